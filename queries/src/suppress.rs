//! Disclosure control (prikking), as indicators.md specifies it.
//!
//! - Primary: a cell whose numerator is 1 to `min_count − 1` is suppressed; a share is also
//!   suppressed when its denominator minus its numerator is in that range. A count of 0 is shown,
//!   and a cell whose denominator is 0 is not suppressed.
//! - Secondary, in rounds: a group is a parent with its children — (a) a region and the HF cells of
//!   that region, (b) the national cell and the region cells, each per (indicator, year, breakdown),
//!   (c) a total cell and its breakdown cells per (indicator, year, level, unit). Every group with
//!   exactly one suppressed cell at the start of a round gets a second: the unsuppressed child with
//!   the smallest numerator of at least `min_count` (ties: lowest code, then lowest breakdown), or,
//!   where no child qualifies, the parent. A round's additions apply together; rounds repeat until
//!   one adds nothing.
//!
//! Invariant afterwards: no group has exactly one suppressed cell unless it has nothing left to
//! suppress, so a hidden cell cannot be recovered by subtraction from its group.

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
    pub suppressed: bool,
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

/// Why a cell is hidden (indicators.md, "Why a cell is hidden"); [`LEGEND`] says it in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Its numerator is 1 to `min_count − 1`.
    Primary,
    /// A share whose denominator minus numerator is 1 to `min_count − 1`.
    Complement,
    /// Hidden in a round of secondary suppression, so no hidden cell can be worked out.
    Secondary,
    /// Its region delivered too few months of the extract that year.
    Coverage,
}

impl Reason {
    pub const ALL: [Reason; 4] = [Reason::Primary, Reason::Complement, Reason::Secondary, Reason::Coverage];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Primary => "primary",
            Reason::Complement => "complement",
            Reason::Secondary => "secondary",
            Reason::Coverage => "coverage",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Each reason with a sentence in Norwegian bokmål and in English: the table `legend` and
/// `GET /api/v1/legend`.
pub const LEGEND: [(Reason, &str, &str); 4] = [
    (
        Reason::Primary,
        "Prikket fordi telleren er mindre enn terskelen for prikking (1–4 med standard terskel 5): så få personer eller hendelser kan identifisere noen.",
        "Suppressed because the numerator is below the disclosure threshold (1 to 4 at the default threshold of 5): so few persons or events could identify someone.",
    ),
    (
        Reason::Complement,
        "Prikket fordi nevneren minus telleren er mindre enn terskelen for prikking: andelen ville vist en liten gruppe.",
        "Suppressed because the denominator minus the numerator is below the disclosure threshold: the share would reveal a small group.",
    ),
    (
        Reason::Secondary,
        "Prikket (sekundærprikking) slik at en annen prikket celle ikke kan regnes ut ved subtraksjon fra totalen.",
        "Suppressed (secondary suppression) so that another suppressed cell cannot be worked out by subtraction from its total.",
    ),
    (
        Reason::Coverage,
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
    /// What identifies the cell: (indicator, year, period, level, rhf, hf, breakdown).
    pub fn key(&self) -> (&str, i32, &str, Level, Option<&str>, Option<&str>, &str) {
        (&self.indicator, self.year, &self.period, self.level, self.rhf.as_deref(), self.hf.as_deref(), &self.breakdown)
    }

    /// A pooled window's cell (its period is not its year).
    pub fn pooled(&self) -> bool {
        self.period.len() > 4
    }
}

/// What disclosure control did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Suppression {
    pub primary: usize,
    pub secondary: usize,
    pub rounds: usize,
    /// Cells withheld for coverage (after disclosure control, by the build).
    pub coverage: usize,
}

/// Whether a cell must be suppressed on its own figures.
pub fn primary(cell: &Cell, min_count: i64) -> bool {
    primary_reason(cell, min_count).is_some()
}

/// Why a cell must be suppressed on its own figures ([`Reason::Primary`] or
/// [`Reason::Complement`]), if it must.
pub fn primary_reason(cell: &Cell, min_count: i64) -> Option<Reason> {
    if cell.denominator == Some(0.0) {
        return None;
    }
    let small = |n: i64| (1..min_count).contains(&n);
    if small(cell.numerator) {
        return Some(Reason::Primary);
    }
    match (cell.share, cell.denominator) {
        (true, Some(d)) if d > 0.0 && small(d.round() as i64 - cell.numerator) => Some(Reason::Complement),
        _ => None,
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
    for (i, c) in cells.iter().enumerate() {
        // A pooled window's cells are groups of their own.
        let ind = format!("{}|{}", c.indicator, c.period);
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

/// Applies primary and secondary suppression to `cells` (setting `suppressed`), with the threshold
/// `min_count` (5 by default). Figures are withheld when the cells are published.
pub fn suppress(cells: &mut [Cell], min_count: i64) -> Suppression {
    let mut report = Suppression::default();
    for c in cells.iter_mut() {
        if c.suppressed {
            continue;
        }
        if let Some(reason) = primary_reason(c, min_count) {
            c.suppressed = true;
            c.reason = Some(reason);
            report.primary += 1;
        }
    }
    let groups = groups(cells);
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
            break;
        }
        report.rounds += 1;
        report.secondary += add.len();
        for i in add {
            cells[i].suppressed = true;
            cells[i].reason = Some(Reason::Secondary);
        }
    }
    report
}

/// [`suppress`] for cells that include pooled three-year windows (indicators.md, "Pooled three-year
/// rates"), and returns what it did in all.
///
/// A pooled cell's numerator is the sum of its three years' numerators. So where a year's cell of
/// the same unit and breakdown is hidden, a shown pooled cell would give it away by subtraction
/// (the window minus the shown years): the pooled cell is then hidden too (reason `secondary`).
/// Single years are suppressed first, on their own groups; then the pooled cells, on theirs (a
/// window's cells form their own groups), with those hidden for their years already counted.
/// A pooled cell is never the reason a single year is hidden, so suppression stays within each
/// year, and an incremental build that recomputes some years reads the others' state from the
/// publication (`others`: cells not in `cells`, with their published `suppressed` and reason).
///
/// Invariant: a shown pooled cell has all three years shown (or hidden for coverage, which is not
/// confidential), and no group of either kind has exactly one hidden cell (as for [`suppress`]).
pub fn suppress_with_windows(cells: &mut Vec<Cell>, others: &[Cell], min_count: i64) -> Suppression {
    let (mut singles, mut pooled): (Vec<Cell>, Vec<Cell>) = cells.drain(..).partition(|c| !c.pooled());
    let mut report = suppress(&mut singles, min_count);
    type Unit<'a> = (&'a str, i32, Level, Option<&'a str>, Option<&'a str>, &'a str);
    let hidden: std::collections::HashSet<Unit<'_>> = singles
        .iter()
        .chain(others.iter().filter(|c| !c.pooled()))
        .filter(|c| c.suppressed && c.reason != Some(Reason::Coverage))
        .map(|c| (c.indicator.as_str(), c.year, c.level, c.rhf.as_deref(), c.hf.as_deref(), c.breakdown.as_str()))
        .collect();
    let mut by_year = 0;
    for p in pooled.iter_mut().filter(|p| !p.suppressed) {
        let unit = |y: i32| (p.indicator.as_str(), y, p.level, p.rhf.as_deref(), p.hf.as_deref(), p.breakdown.as_str());
        if (p.year - 1..=p.year + 1).any(|y| hidden.contains(&unit(y))) {
            p.suppressed = true;
            p.reason = Some(Reason::Secondary);
            by_year += 1;
        }
    }
    let windows = suppress(&mut pooled, min_count);
    report.primary += windows.primary;
    report.secondary += windows.secondary + by_year;
    report.rounds = report.rounds.max(windows.rounds);
    cells.extend(singles);
    cells.extend(pooled);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(level: Level, rhf: Option<&str>, hf: Option<&str>, n: i64) -> Cell {
        Cell {
            indicator: "x".into(),
            year: 2024,
            period: "2024".into(),
            level,
            rhf: rhf.map(Into::into),
            hf: hf.map(Into::into),
            breakdown: String::new(),
            numerator: n,
            denominator: None,
            value: Some(n as f64),
            ci_low: None,
            ci_high: None,
            ci99_low: None,
            ci99_high: None,
            share: false,
            suppressed: false,
            reason: None,
            compared: None,
            coverage: None,
            target: None,
        }
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
        assert_eq!(r, Suppression { primary: 1, secondary: 1, rounds: 1, coverage: 0 });
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
        assert_eq!(r, Suppression { primary: 1, secondary: 2, rounds: 2, coverage: 0 });
    }

    #[test]
    fn share_complements_and_empty_denominators() {
        let mut c = cell(Level::Hf, Some("R"), Some("A"), 97);
        c.share = true;
        c.denominator = Some(100.0);
        assert!(primary(&c, 5), "3 not in the group");
        c.denominator = Some(97.0);
        assert!(!primary(&c, 5), "everyone: complement 0");
        c.share = false;
        c.denominator = Some(100.0);
        assert!(!primary(&c, 5), "a rate has no complement rule");
        let zero = cell(Level::Hf, Some("R"), Some("A"), 0);
        assert!(!primary(&zero, 5));
    }
}
