//! Property tests of disclosure control (`lms_queries::suppress`), as indicators.md specifies it.
//!
//! The tables are generated additive: regions `R0`..`R3`, each with HFs `R0H0`.., each with 0–3
//! breakdown values `b=x0`..`b=x2`; HF figures are drawn (mostly small, so that suppression is
//! common), an HF total is the sum of its breakdown cells, a region the sum of its HFs and the
//! nation the sum of its regions. Tested, with a threshold of 5:
//! - A: no published cell has a numerator of 1–4;
//! - B: no group (region + its HFs, nation + regions, total + breakdown cells) has exactly one
//!   hidden cell, so nothing can be recovered by subtraction;
//! - C: for shares, no published cell has a numerator or a complement (denominator − numerator) of 1–4;
//! - D: a second run changes nothing and reports nothing;
//! - E: cells already hidden stay hidden, only the flag changes, the report counts the newly hidden
//!   cells, and a threshold of 1 hides nothing.

use lms_queries::catalogue::Level;
use lms_queries::suppress::{Cell, Reason, Suppression, primary, suppress};
use proptest::prelude::*;

/// The threshold of the rule (`min_count`).
const MIN: i64 = 5;
/// The most cells a table can have: (1 nation + 4 regions + 16 HFs) × (total + 3 breakdowns).
const MAX_CELLS: usize = 84;

/// One drawn figure: (numerator, complement); the denominator is their sum. Counts have complement 0.
type Leaf = (i64, i64);
/// An HF's leaves: one per breakdown value, or one (its total) when there are none.
type Hf = Vec<Leaf>;

#[derive(Clone, Debug)]
struct Table {
    share: bool,
    breakdowns: usize,
    /// Region → HF → leaves.
    regions: Vec<Vec<Hf>>,
}

/// Mostly 0–2, so that small numerators (and complements) are common.
fn small() -> BoxedStrategy<i64> {
    prop_oneof![4 => 0..3i64, 2 => 0..8i64, 1 => 0..40i64].boxed()
}

fn count_leaf() -> BoxedStrategy<Leaf> {
    small().prop_map(|n| (n, 0)).boxed()
}

fn share_leaf() -> BoxedStrategy<Leaf> {
    (small(), small()).boxed()
}

fn table(share: bool) -> BoxedStrategy<Table> {
    let leaf: fn() -> BoxedStrategy<Leaf> = if share { share_leaf } else { count_leaf };
    (0usize..=3)
        .prop_flat_map(move |breakdowns| {
            let hf = prop::collection::vec(leaf(), breakdowns.max(1));
            let region = prop::collection::vec(hf, 1..=4);
            prop::collection::vec(region, 1..=4).prop_map(move |regions| Table { share, breakdowns, regions })
        })
        .boxed()
}

fn count_table() -> BoxedStrategy<Table> {
    table(false)
}

fn share_table() -> BoxedStrategy<Table> {
    table(true)
}

fn any_table() -> BoxedStrategy<Table> {
    prop_oneof![count_table(), share_table()].boxed()
}

fn add(a: Leaf, b: Leaf) -> Leaf {
    (a.0 + b.0, a.1 + b.1)
}

/// Slot-wise sum of several units' leaves.
fn sum(parts: &[Hf], slots: usize) -> Hf {
    (0..slots).map(|j| parts.iter().fold((0, 0), |acc, p| add(acc, p[j]))).collect()
}

fn make_cell(level: Level, rhf: Option<&str>, hf: Option<&str>, breakdown: String, leaf: Leaf, share: bool) -> Cell {
    let (n, d) = (leaf.0, leaf.0 + leaf.1);
    let value = if !share {
        Some(n as f64)
    } else if d > 0 {
        Some(n as f64 / d as f64)
    } else {
        None
    };
    Cell {
        indicator: "x".into(),
        year: 2024,
        period: "2024".into(),
        level,
        rhf: rhf.map(Into::into),
        hf: hf.map(Into::into),
        breakdown,
        numerator: n,
        denominator: share.then_some(d as f64),
        value,
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

/// The cells of one unit: its total, and one cell per breakdown value when there are any.
fn unit(level: Level, rhf: Option<&str>, hf: Option<&str>, leaves: &[Leaf], t: &Table) -> Vec<Cell> {
    let cell = |breakdown: String, leaf: Leaf| make_cell(level, rhf, hf, breakdown, leaf, t.share);
    if t.breakdowns == 0 {
        return vec![cell(String::new(), leaves[0])];
    }
    let total = leaves.iter().fold((0, 0), |acc, &l| add(acc, l));
    let mut out = vec![cell(String::new(), total)];
    out.extend(leaves.iter().enumerate().map(|(j, &l)| cell(format!("b=x{j}"), l)));
    out
}

/// All cells of a table: national, then each region followed by its HFs.
fn build(t: &Table) -> Vec<Cell> {
    let slots = t.breakdowns.max(1);
    let region_sums: Vec<Hf> = t.regions.iter().map(|hfs| sum(hfs, slots)).collect();
    let mut out = unit(Level::National, None, None, &sum(&region_sums, slots), t);
    for (r, hfs) in t.regions.iter().enumerate() {
        let rhf = format!("R{r}");
        out.extend(unit(Level::Rhf, Some(rhf.as_str()), None, &region_sums[r], t));
        for (h, leaves) in hfs.iter().enumerate() {
            let hf = format!("{rhf}H{h}");
            out.extend(unit(Level::Hf, Some(rhf.as_str()), Some(hf.as_str()), leaves, t));
        }
    }
    out
}

fn label(c: &Cell) -> String {
    format!(
        "{} {:?}/{:?} [{}] n={} d={:?} hidden={}",
        c.level, c.rhf, c.hf, c.breakdown, c.numerator, c.denominator, c.suppressed
    )
}

/// Indexes of the cells that satisfy `f`.
fn members(cells: &[Cell], f: impl Fn(&Cell) -> bool) -> Vec<usize> {
    (0..cells.len()).filter(|&i| f(&cells[i])).collect()
}

/// The groups of the rule, recomputed here from the spec: (kind, parent, children).
fn groups(cells: &[Cell]) -> Vec<(char, usize, Vec<usize>)> {
    let mut out = Vec::new();
    for (p, parent) in cells.iter().enumerate() {
        let same = |k: &Cell| k.indicator == parent.indicator && k.year == parent.year;
        match parent.level {
            // (a) a region with the HF cells of that region, per breakdown.
            Level::Rhf => out.push((
                'a',
                p,
                members(cells, |k| {
                    same(k) && k.level == Level::Hf && k.rhf == parent.rhf && k.breakdown == parent.breakdown
                }),
            )),
            // (b) the nation with the region cells, per breakdown.
            Level::National => out.push((
                'b',
                p,
                members(cells, |k| same(k) && k.level == Level::Rhf && k.breakdown == parent.breakdown),
            )),
            Level::Hf => {}
        }
        // (c) a total with the breakdown cells of the same unit.
        if parent.breakdown.is_empty() {
            out.push((
                'c',
                p,
                members(cells, |k| {
                    same(k)
                        && k.level == parent.level
                        && k.rhf == parent.rhf
                        && k.hf == parent.hf
                        && !k.breakdown.is_empty()
                }),
            ));
        }
    }
    out
}

/// No published cell has a small numerator, nor, for a share, a small complement.
fn nothing_small_published(cells: &[Cell]) -> Result<(), TestCaseError> {
    let small = |n: i64| (1..MIN).contains(&n);
    for c in cells.iter().filter(|c| !c.suppressed) {
        prop_assert!(!small(c.numerator), "published small numerator: {}", label(c));
        let d = c.denominator.unwrap_or(0.0);
        if c.share && d > 0.0 {
            let complement = d.round() as i64 - c.numerator;
            prop_assert!(!small(complement), "published small complement: {}", label(c));
        }
        prop_assert!(!primary(c, MIN), "published a primary cell: {}", label(c));
    }
    Ok(())
}

/// No group of an additive table has exactly one hidden cell.
///
/// Why this must hold: a lone hidden child gets a second (a sibling ≥ 5, else the parent), so only
/// a parent hidden alone could remain. Its children are all published, so each is 0 or ≥ 5, and
/// they sum to the parent's numerator: a parent of 1–4 would need a child of 1–4 (hidden too), and
/// a parent ≥ 5 has a published child ≥ 5 (a candidate, so the rounds would not have stopped).
/// A parent of 0 is never hidden: primary skips 0, a child pick needs ≥ 5, and a parent pick needs
/// a hidden (so nonzero) child. Childless totals (no breakdowns) are no group to subtract from.
fn no_lone_hidden_cell(cells: &[Cell]) -> Result<(), TestCaseError> {
    for (kind, p, children) in groups(cells) {
        if children.is_empty() {
            continue;
        }
        let parent = &cells[p];
        let total: i64 = children.iter().map(|&i| cells[i].numerator).sum();
        prop_assert_eq!(parent.numerator, total, "table not additive in group ({}) of {}", kind, label(parent));
        let hidden_children = children.iter().filter(|&&i| cells[i].suppressed).count();
        let hidden = hidden_children + usize::from(parent.suppressed);
        prop_assert_ne!(hidden, 1, "group ({}) of {} has one hidden cell", kind, label(parent));
        // Directly: parent − published children = the hidden children's sum, so a published parent
        // with hidden children needs at least two of them.
        if !parent.suppressed && hidden_children > 0 {
            prop_assert!(
                hidden_children >= 2,
                "group ({}) of published {} reveals its one hidden child",
                kind,
                label(parent)
            );
        }
    }
    Ok(())
}

/// Suppressing the output again hides nothing more and reports nothing.
fn idempotent(mut cells: Vec<Cell>) -> Result<(), TestCaseError> {
    suppress(&mut cells, MIN);
    let once = cells.clone();
    let again = suppress(&mut cells, MIN);
    prop_assert_eq!(again, Suppression::default());
    prop_assert!(cells == once, "a second run changed the cells");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_no_small_count_is_published(t in count_table()) {
        let mut cells = build(&t);
        suppress(&mut cells, MIN);
        nothing_small_published(&cells)?;
    }

    #[test]
    fn b_no_hidden_count_can_be_recovered_by_subtraction(t in count_table()) {
        let mut cells = build(&t);
        suppress(&mut cells, MIN);
        no_lone_hidden_cell(&cells)?;
    }

    #[test]
    fn c_no_small_share_numerator_or_complement_is_published(t in share_table()) {
        let mut cells = build(&t);
        for c in &cells {
            let d = c.denominator.unwrap_or(-1.0);
            prop_assert!(c.share && d >= c.numerator as f64, "bad share cell {}", label(c));
        }
        suppress(&mut cells, MIN);
        nothing_small_published(&cells)?;
    }

    #[test]
    fn d_a_second_run_adds_nothing(t in any_table()) {
        idempotent(build(&t))?;
    }

    #[test]
    fn e_suppression_only_adds_and_counts_what_it_adds(
        t in any_table(),
        mask in prop::collection::vec(prop::bool::weighted(0.1), MAX_CELLS),
    ) {
        let mut cells = build(&t);
        prop_assert!(cells.len() <= MAX_CELLS);
        for (c, &m) in cells.iter_mut().zip(&mask) {
            c.suppressed = m;
        }
        let before = cells.clone();
        let report = suppress(&mut cells, MIN);
        let mut newly = 0;
        for (b, a) in before.iter().zip(&cells) {
            prop_assert!(!b.suppressed || a.suppressed, "un-suppressed {}", label(a));
            newly += usize::from(a.suppressed && !b.suppressed);
            let mut same = a.clone();
            same.suppressed = b.suppressed;
            same.denominator_suppressed = b.denominator_suppressed;
            same.reason = b.reason;
            prop_assert!(same == *b, "changed more than the flag of {}", label(a));
        }
        prop_assert_eq!(report.disclosure(), newly);
    }

    #[test]
    fn f_every_hidden_cell_says_why(t in any_table()) {
        let mut cells = build(&t);
        let report = suppress(&mut cells, MIN);
        let small = |n: i64| (1..MIN).contains(&n);
        let mut secondary = 0;
        for c in &cells {
            let denominator = c.denominator.filter(|&d| c.share && d > 0.0).map(|d| d.round() as i64);
            let complement = denominator.map(|d| d - c.numerator);
            let expected = match (c.suppressed, small(c.numerator), denominator.is_some_and(small), complement.is_some_and(small)) {
                (false, ..) => None,
                (true, true, ..) => Some(Reason::Primary),
                (true, false, true, _) => Some(Reason::SmallDenominator),
                (true, false, false, true) => Some(Reason::Complement),
                (true, false, false, false) => Some(Reason::Secondary),
            };
            prop_assert_eq!(c.reason, expected, "{}", label(c));
            secondary += usize::from(c.reason == Some(Reason::Secondary));
        }
        prop_assert_eq!(secondary, report.secondary);
    }

    #[test]
    fn e_a_threshold_of_one_hides_nothing(t in any_table()) {
        let mut cells = build(&t);
        prop_assert_eq!(suppress(&mut cells, 1), Suppression::default());
        prop_assert!(cells.iter().all(|c| !c.suppressed));
    }
}
