//! Disclosure control (prikking): the rules that look at one cell
//! or one group of cells. The check that a publication's hidden counts cannot be worked out, and the
//! secondary suppression it drives, is `crate::protect` (indicators.md, third edition).
//!
//! - Primary: a cell whose numerator is 1 to `min_count − 1` is suppressed; a share is also
//!   suppressed when its denominator minus its numerator is in that range, and with its denominator
//!   when that denominator is in that range. A count of 0 is shown, and a cell whose denominator is
//!   0 is not suppressed.
//! - Rounds (second edition, the first step of secondary suppression): a group is a parent with its
//!   children — (a) a region and the HF cells of that region, (b) the national cell and the region
//!   cells, each per (indicator, year, breakdown), (c) a total cell and its breakdown cells per
//!   (indicator, year, level, unit). Every group with exactly one suppressed cell at the start of a
//!   round gets a second: the unsuppressed child with the smallest numerator of at least
//!   `min_count` (ties: lowest code, then lowest breakdown), or, where no child qualifies, the
//!   parent. A round's additions apply together; rounds repeat until one adds nothing.
//!
//! Invariant after the rounds: no group has exactly one suppressed cell unless it has nothing left
//! to suppress. That alone does not protect a cell (one count is published by several indicators,
//! and a share's complement is a count too): `crate::protect` checks every relation.

use std::collections::BTreeMap;

use crate::catalogue::Level;
pub use crate::cell::{Cell, Compared, LEGEND, Reason, Served};

/// The disclosure-control threshold indicators.md sets (`[suppression] min_count`): numerators 1 to
/// `MIN_COUNT − 1` are hidden.
pub const MIN_COUNT: i64 = 5;

/// What disclosure control did: cells hidden, by reason, and the work of the protection check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Suppression {
    /// Numerator 1 to `min_count − 1`.
    pub primary: usize,
    /// A share's complement 1 to `min_count − 1`.
    pub complement: usize,
    /// A share's denominator 1 to `min_count − 1`.
    pub small_denominator: usize,
    /// A count hidden in another cell, or a hidden year of a pooled window.
    pub shared: usize,
    /// Added by the rounds and by the protection check.
    pub secondary: usize,
    /// Of `secondary`, added by the protection check.
    pub secondary_protection: usize,
    pub rounds: usize,
    /// Cells withheld for coverage (after disclosure control, by the build).
    pub coverage: usize,
    /// Hidden counts (and complements) the protection check proved protected.
    pub checked: usize,
    /// Linear programmes solved.
    pub programmes: usize,
    /// The rows loaded (indexes into those given to `protect::protect`) `data_quality` must
    /// withhold, read and loaded of each of the region's deliveries of the year: nothing in
    /// `indicator_values` was left to hide beside a count they pin (a region with a handful of
    /// rows in a year; never at real volumes).
    pub rows_withheld: Vec<usize>,
}

impl Suppression {
    /// Cells hidden by disclosure control, whatever the reason.
    pub fn disclosure(&self) -> usize {
        self.primary + self.complement + self.small_denominator + self.shared + self.secondary
    }
}

/// Whether a cell must be suppressed on its own figures.
pub fn primary(cell: &Cell, min_count: i64) -> bool {
    primary_reason(cell, min_count).is_some()
}

/// Why a cell must be suppressed on its own figures ([`Reason::Primary`],
/// [`Reason::SmallDenominator`] or [`Reason::Complement`]), if it must.
pub fn primary_reason(cell: &Cell, min_count: i64) -> Option<Reason> {
    if cell.denominator == Some(0.0) {
        return None;
    }
    let small = |n: i64| (1..min_count).contains(&n);
    if small(cell.numerator) {
        return Some(Reason::Primary);
    }
    match (cell.share, cell.denominator) {
        (true, Some(d)) if d > 0.0 && small(d.round() as i64) => Some(Reason::SmallDenominator),
        (true, Some(d)) if d > 0.0 && small(d.round() as i64 - cell.numerator) => Some(Reason::Complement),
        _ => None,
    }
}

/// Hides every cell that must be hidden on its own figures; returns the cells hidden, by reason.
pub fn suppress_primary(cells: &mut [Cell], min_count: i64) -> BTreeMap<Reason, usize> {
    let mut by = BTreeMap::new();
    for c in cells.iter_mut().filter(|c| !c.suppressed) {
        if let Some(reason) = primary_reason(c, min_count) {
            hide(c, reason);
            // A small denominator is hidden whatever else is small.
            c.denominator_suppressed =
                c.share && c.denominator.is_some_and(|d| (1..min_count).contains(&(d.round() as i64)));
            *by.entry(reason).or_default() += 1;
        }
    }
    by
}

/// Marks a cell hidden for `reason` (its first reason stays).
pub fn hide(cell: &mut Cell, reason: Reason) {
    if !cell.suppressed {
        cell.suppressed = true;
        cell.reason = Some(reason);
    }
}

/// A group: its parent cell (if published) and its children, as indexes into the cells.
#[derive(Debug, Default)]
struct Group {
    parent: Option<usize>,
    children: Vec<usize>,
}

/// The code a child is known by in its group, for the tie-break.
fn code(cell: &Cell, kind: u8) -> &str {
    match kind {
        b'a' => cell.hf.as_deref().unwrap_or_default(),
        b'b' => cell.rhf.as_deref().unwrap_or_default(),
        _ => &cell.breakdown,
    }
}

fn groups(cells: &[Cell]) -> Vec<(u8, Group)> {
    type Key = (u8, String, i32, String, String, String);
    let mut map: BTreeMap<Key, Group> = BTreeMap::new();
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    for (i, c) in cells.iter().enumerate().filter(|(_, c)| !c.pooled()) {
        let ind = c.indicator.clone();
        // (a) region with its HFs, (b) nation with its regions: per (indicator, year, breakdown).
        match c.level {
            Level::Hf => map
                .entry((b'a', ind.clone(), c.year, c.breakdown.clone(), s(&c.rhf), String::new()))
                .or_default()
                .children
                .push(i),
            Level::Rhf => {
                map.entry((b'a', ind.clone(), c.year, c.breakdown.clone(), s(&c.rhf), String::new()))
                    .or_default()
                    .parent = Some(i);
                map.entry((b'b', ind.clone(), c.year, c.breakdown.clone(), String::new(), String::new()))
                    .or_default()
                    .children
                    .push(i);
            }
            Level::National => {
                map.entry((b'b', ind.clone(), c.year, c.breakdown.clone(), String::new(), String::new()))
                    .or_default()
                    .parent = Some(i)
            }
        }
        // (c) a total with its breakdown cells: per (indicator, year, level, unit).
        let unit = format!("{}|{}|{}", c.level.as_str(), s(&c.rhf), s(&c.hf));
        let g = map.entry((b'c', ind, c.year, unit, String::new(), String::new())).or_default();
        if c.breakdown.is_empty() {
            g.parent = Some(i);
        } else {
            g.children.push(i);
        }
    }
    map.into_iter().map(|(k, g)| (k.0, g)).collect()
}

/// Primary suppression and the rounds (the second edition's disclosure control) over `cells`.
pub fn suppress(cells: &mut [Cell], min_count: i64) -> Suppression {
    let primary = suppress_primary(cells, min_count);
    let (secondary, rounds) = suppress_rounds(cells, min_count);
    let n = |r: Reason| primary.get(&r).copied().unwrap_or(0);
    Suppression {
        primary: n(Reason::Primary),
        complement: n(Reason::Complement),
        small_denominator: n(Reason::SmallDenominator),
        secondary,
        rounds,
        ..Suppression::default()
    }
}

/// The rounds of the module docs over the single years' cells (a pooled window is hidden with its
/// years instead, `crate::protect`); returns the cells hidden and the rounds that hid some.
pub fn suppress_rounds(cells: &mut [Cell], min_count: i64) -> (usize, usize) {
    let groups = groups(cells);
    let (mut added, mut rounds) = (0, 0);
    loop {
        let mut add = std::collections::BTreeSet::new();
        for (kind, g) in &groups {
            let suppressed = g.parent.iter().chain(&g.children).filter(|&&i| cells[i].suppressed).count();
            if suppressed != 1 {
                continue;
            }
            let child = g.children.iter().filter(|&&i| !cells[i].suppressed && cells[i].numerator >= min_count).min_by(
                |&&x, &&y| {
                    let (a, b) = (&cells[x], &cells[y]);
                    (a.numerator, code(a, *kind), a.breakdown.as_bytes()).cmp(&(
                        b.numerator,
                        code(b, *kind),
                        b.breakdown.as_bytes(),
                    ))
                },
            );
            match (child, g.parent) {
                (Some(&i), _) => {
                    add.insert(i);
                }
                (None, Some(p)) if !cells[p].suppressed => {
                    add.insert(p);
                }
                _ => {}
            }
        }
        if add.is_empty() {
            return (added, rounds);
        }
        rounds += 1;
        added += add.len();
        for i in add {
            hide(&mut cells[i], Reason::Secondary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(level: Level, rhf: Option<&str>, hf: Option<&str>, n: i64) -> Cell {
        Cell::shown("x", 2024, level, rhf, hf, n, None, true)
    }

    #[test]
    fn a_lone_small_hf_takes_its_smallest_sibling_of_five_or_more() {
        // Region 30 = 3 + 12 + 7 + 8: HF B (3) is primary; the smallest sibling ≥ 5 is D (7).
        let mut cells = vec![
            cell(Level::National, None, None, 30),
            cell(Level::Rhf, Some("R"), None, 30),
            cell(Level::Hf, Some("R"), Some("B"), 3),
            cell(Level::Hf, Some("R"), Some("C"), 12),
            cell(Level::Hf, Some("R"), Some("D"), 7),
            cell(Level::Hf, Some("R"), Some("E"), 8),
        ];
        let r = suppress(&mut cells, 5);
        let hidden: Vec<_> = cells.iter().filter(|c| c.suppressed).filter_map(|c| c.hf.clone()).collect();
        assert_eq!(hidden, ["B", "D"]);
        assert_eq!((r.primary, r.secondary, r.rounds), (1, 1, 1));
    }

    #[test]
    fn ties_go_to_the_lowest_code_and_a_group_without_candidates_hides_its_parent() {
        let mut cells = vec![
            cell(Level::National, None, None, 20),
            cell(Level::Rhf, Some("R"), None, 20),
            cell(Level::Hf, Some("R"), Some("Z"), 2),
            cell(Level::Hf, Some("R"), Some("Q"), 9),
            cell(Level::Hf, Some("R"), Some("P"), 9),
        ];
        suppress(&mut cells, 5);
        assert!(cells[4].suppressed && !cells[3].suppressed, "P before Q at equal numerators");

        // A rate whose region counts more than its HFs (participants of an HF without catchment
        // area): HF A (2) has no sibling, so its region is hidden (round 1); the nation then has one
        // hidden child and no other, so the nation is hidden (round 2).
        let mut cells = vec![
            cell(Level::National, None, None, 12),
            cell(Level::Rhf, Some("R"), None, 12),
            cell(Level::Hf, Some("R"), Some("A"), 2),
        ];
        let r = suppress(&mut cells, 5);
        assert!(cells.iter().all(|c| c.suppressed));
        assert_eq!((r.primary, r.secondary, r.rounds), (1, 2, 2));
    }

    #[test]
    fn share_complements_and_empty_denominators() {
        let mut c = cell(Level::Hf, Some("R"), Some("A"), 97);
        c.share = true;
        c.denominator = Some(100.0);
        assert_eq!(primary_reason(&c, 5), Some(Reason::Complement), "3 not in the group");
        c.denominator = Some(3.0);
        c.numerator = 0;
        assert_eq!(primary_reason(&c, 5), Some(Reason::SmallDenominator), "a denominator of 3");
        c.numerator = 97;
        c.denominator = Some(97.0);
        assert!(!primary(&c, 5), "everyone: complement 0");
        c.share = false;
        c.denominator = Some(100.0);
        assert!(!primary(&c, 5), "a rate has no complement rule");
        let zero = cell(Level::Hf, Some("R"), Some("A"), 0);
        assert!(!primary(&zero, 5));
    }
}
