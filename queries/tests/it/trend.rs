//! The recent-trend table (indicators.md, third edition, "Recent trend") from cells: which series get
//! a trend, over which five years, what a hidden year does, and the direction a target gives. The
//! rule's arithmetic is worked by hand in `lms_queries::trend`'s unit tests.

use lms_queries::Level;
use lms_queries::catalogue::embedded;
use lms_queries::suppress::Cell;
use lms_queries::target::{Better, Target};
use lms_queries::trend::{Direction, Trend, TrendRow, trends};

/// A shown national cell of `indicator` with `value` and a 95 % interval of ± 1.96 · `se`.
fn cell(indicator: &str, year: i32, value: f64, se: f64) -> Cell {
    Cell {
        value: Some(value),
        ci_low: Some(value - 1.96 * se),
        ci_high: Some(value + 1.96 * se),
        ..Cell::shown(indicator, year, Level::National, None, None, 10, Some(100.0), true)
    }
}

fn national<'a>(rows: &'a [TrendRow], indicator: &str) -> &'a TrendRow {
    rows.iter().find(|r| r.indicator == indicator && r.level == Level::National).unwrap()
}

/// Six years of `cancelled_share` rising by 0.01 a year (se 0.002: χ² = 0.01² · Σ w (t − t̄)² =
/// 0.0001 · 250 000 · 10 = 250 over the last five), and the same of `course_runs`, a count.
fn rising() -> Vec<Cell> {
    let mut cells: Vec<Cell> =
        (2019..=2024).map(|y| cell("cancelled_share", y, 0.1 + 0.01 * f64::from(y - 2019), 0.002)).collect();
    cells.extend((2019..=2024).map(|y| Cell { share: false, ..cell("course_runs", y, f64::from(y), 0.5) }));
    cells
}

#[test]
fn the_five_newest_years_of_a_share_make_its_trend_and_counts_have_none() {
    let rows = trends(&rising(), embedded(), &[]);
    let t = national(&rows, "cancelled_share");
    assert_eq!((t.from_year, t.to_year), (Some(2020), Some(2024)));
    assert_eq!(t.trend, Trend::Increasing);
    assert!((t.slope.unwrap() - 0.01).abs() < 1e-12, "{t:?}");
    assert!((t.chi2.unwrap() - 250.0).abs() < 1e-6, "{t:?}");
    assert_eq!(t.direction, None, "no target, no direction");
    assert!(rows.iter().all(|r| r.indicator != "course_runs"), "a count is neither a share nor a standardised rate");
}

#[test]
fn a_hidden_year_in_the_five_leaves_the_trend_uncalculated() {
    let mut cells = rising();
    let hidden = cells.iter_mut().find(|c| c.indicator == "cancelled_share" && c.year == 2022).unwrap();
    hidden.suppressed = true;
    let t = national(&trends(&cells, embedded(), &[]), "cancelled_share").clone();
    assert_eq!(t.trend, Trend::CannotBeCalculated);
    assert_eq!((t.slope, t.chi2), (None, None));
    // A hidden year before the five does not matter.
    let mut cells = rising();
    cells.iter_mut().find(|c| c.indicator == "cancelled_share" && c.year == 2019).unwrap().suppressed = true;
    assert_eq!(national(&trends(&cells, embedded(), &[]), "cancelled_share").trend, Trend::Increasing);
    // Nor does a cell without an interval in them count as shown for the trend.
    let mut cells = rising();
    cells.iter_mut().find(|c| c.indicator == "cancelled_share" && c.year == 2024).unwrap().ci_high = None;
    assert_eq!(national(&trends(&cells, embedded(), &[]), "cancelled_share").trend, Trend::CannotBeCalculated);
}

#[test]
fn a_target_says_whether_a_trend_improves() {
    let target = |better| Target { indicator: "cancelled_share".into(), better, good: 0.1, acceptable: 0.2 };
    let lower = [Target { good: 0.1, acceptable: 0.2, ..target(Better::Lower) }];
    assert_eq!(
        national(&trends(&rising(), embedded(), &lower), "cancelled_share").direction,
        Some(Direction::Worsening)
    );
    let higher = [Target { good: 0.2, acceptable: 0.1, ..target(Better::Higher) }];
    assert_eq!(
        national(&trends(&rising(), embedded(), &higher), "cancelled_share").direction,
        Some(Direction::Improving)
    );
}

#[test]
fn fewer_than_five_years_cannot_be_calculated() {
    let cells: Vec<Cell> = (2021..=2024).map(|y| cell("cancelled_share", y, 0.1, 0.002)).collect();
    let t = national(&trends(&cells, embedded(), &[]), "cancelled_share").clone();
    assert_eq!((t.trend, t.from_year, t.to_year), (Trend::CannotBeCalculated, None, None));
}

/// The table's rows go through Parquet's types and back unchanged.
#[test]
fn trend_rows_written_are_the_rows_read() {
    let rows = trends(
        &rising(),
        embedded(),
        &[Target { indicator: "cancelled_share".into(), better: Better::Lower, good: 0.1, acceptable: 0.2 }],
    );
    let batch = TrendRow::to_batch(&rows).unwrap();
    assert_eq!(batch.schema(), lms_queries::tables::trend_schema());
    assert_eq!(TrendRow::read(&[batch]).unwrap(), rows);
}
