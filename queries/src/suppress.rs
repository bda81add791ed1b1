//! Disclosure control (prikking): the cell, why it is hidden, and the rules that look at one cell
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

/// One published cell before its figures are withheld.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub indicator: String,
    /// The year, or a pooled window's middle year.
    pub year: i32,
    /// `YYYY` (= `year`) for one year, `YYYY-YYYY` for a pooled three-year window.
    pub period: String,
    pub level: Level,
    pub rhf: Option<String>,
    pub hf: Option<String>,
    /// Empty for the total cell, else `name=value`.
    pub breakdown: String,
    pub numerator: i64,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// The 99.8 % interval (`ci_low`/`ci_high` are the 95 % one).
    pub ci99_low: Option<f64>,
    pub ci99_high: Option<f64>,
    /// A share: its complement (denominator − numerator) is checked too.
    pub share: bool,
    /// Its numerator, value and intervals are withheld.
    pub suppressed: bool,
    /// Its denominator is withheld too: a count hidden elsewhere, or a share's denominator of 1 to
    /// `min_count − 1` (set only with `suppressed`).
    pub denominator_suppressed: bool,
    /// Why it is suppressed (set with `suppressed`).
    pub reason: Option<Reason>,
    /// An rhf or hf cell's 95 % interval against the national value (`crate::compare`).
    pub compared: Option<Compared>,
    /// Its region's coverage of the extract that year; a national cell's is the lowest of the
    /// regions' (`crate::publish::coverage`).
    pub coverage: Option<f64>,
    /// Where its value stands against the indicator's configured target (`crate::target`).
    pub target: Option<crate::target::Standing>,
}

/// Why a cell is hidden, as the warehouse records it (the table `disclosure`, `lms audit
/// disclosure`); what is served is only [`Served`] (indicators.md, third edition, 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Its numerator is 1 to `min_count − 1`.
    Primary,
    /// A share whose denominator minus numerator is 1 to `min_count − 1`.
    Complement,
    /// A share whose denominator is 1 to `min_count − 1`: hidden with its denominator.
    SmallDenominator,
    /// A count it publishes is hidden in another cell (one count, one fate), or a year of its
    /// pooled window is hidden.
    Shared,
    /// Hidden by secondary suppression, so that no hidden count can be worked out.
    Secondary,
    /// Its region delivered too few months of the extract that year.
    Coverage,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::Primary,
        Reason::Complement,
        Reason::SmallDenominator,
        Reason::Shared,
        Reason::Secondary,
        Reason::Coverage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Primary => "primary",
            Reason::Complement => "complement",
            Reason::SmallDenominator => "small_denominator",
            Reason::Shared => "shared",
            Reason::Secondary => "secondary",
            Reason::Coverage => "coverage",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What is served: every reason of disclosure control is `disclosure`.
    pub fn served(self) -> Served {
        match self {
            Reason::Coverage => Served::Coverage,
            _ => Served::Disclosure,
        }
    }
}

/// Why a cell is hidden, as served (`suppression_reason`): a finer reason would tell an attacker
/// which cell is small (a `complement` beside a shown denominator gives the numerator away).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Served {
    Disclosure,
    Coverage,
}

impl Served {
    pub const ALL: [Served; 2] = [Served::Disclosure, Served::Coverage];

    pub fn as_str(self) -> &'static str {
        match self {
            Served::Disclosure => "disclosure",
            Served::Coverage => "coverage",
        }
    }

    pub fn parse(s: &str) -> Option<Served> {
        Served::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Each served reason with a sentence in Norwegian bokmål and in English: the table `legend` and
/// `GET /api/v1/legend`.
pub const LEGEND: [(Served, &str, &str); 2] = [
    (
        Served::Disclosure,
        "Prikket av personvernhensyn: tallet er lite, eller det kunne vært regnet ut fra andre publiserte tall.",
        "Suppressed for privacy: the count is small, or it could be worked out from other published figures.",
    ),
    (
        Served::Coverage,
        "Holdt tilbake fordi regionen har levert data for under 75 % av månedene i året.",
        "Withheld because the region delivered data for less than 75 % of the months of the year.",
    ),
];

/// How an rhf or hf cell compares with the nation: its 95 % interval lies wholly above, wholly
/// below, or around the national value of the same indicator, year and breakdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compared {
    Higher,
    Similar,
    Lower,
}

impl Compared {
    pub fn as_str(self) -> &'static str {
        match self {
            Compared::Higher => "higher",
            Compared::Similar => "similar",
            Compared::Lower => "lower",
        }
    }

    pub fn parse(s: &str) -> Option<Compared> {
        [Compared::Higher, Compared::Similar, Compared::Lower].into_iter().find(|c| c.as_str() == s)
    }
}

impl Cell {
    /// A shown cell of `year` (its own period) with a count and, for a share or rate, its
    /// denominator; the value is their quotient (or the count), with no interval, comparison,
    /// coverage or target.
    #[allow(clippy::too_many_arguments)]
    pub fn shown(
        indicator: &str,
        year: i32,
        level: Level,
        rhf: Option<&str>,
        hf: Option<&str>,
        numerator: i64,
        denominator: Option<f64>,
        share: bool,
    ) -> Cell {
        Cell {
            indicator: indicator.into(),
            year,
            period: year.to_string(),
            level,
            rhf: rhf.map(Into::into),
            hf: hf.map(Into::into),
            breakdown: String::new(),
            numerator,
            denominator,
            value: Some(denominator.map_or(numerator as f64, |d| numerator as f64 / d)),
            ci_low: None,
            ci_high: None,
            ci99_low: None,
            ci99_high: None,
            share,
            suppressed: false,
            denominator_suppressed: false,
            reason: None,
            compared: None,
            coverage: None,
            target: None,
        }
    }

    /// What identifies the cell: (indicator, year, period, level, rhf, hf, breakdown).
    pub fn key(&self) -> (&str, i32, &str, Level, Option<&str>, Option<&str>, &str) {
        (&self.indicator, self.year, &self.period, self.level, self.rhf.as_deref(), self.hf.as_deref(), &self.breakdown)
    }

    /// A pooled window's cell (its period is not its year).
    pub fn pooled(&self) -> bool {
        self.period.len() > 4
    }
}

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
