//! Pooled three-year rates (indicators.md, "Pooled three-year rates") on strata made by hand: events
//! and inhabitants summed over the three years, the middle year's weights, then the same
//! standardisation as one year. Expected values worked out here from the written formula.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use lms_queries::publish::{pooled_strata_query, standardised_cells_query};

/// One national cell, two strata (F and M, 20-39), years 2023–2025:
/// (year, sex, d, n, w).
const STRATA: [(i32, &str, i64, i64, f64); 6] = [
    (2023, "F", 2, 1000, 0.40),
    (2023, "M", 1, 900, 0.60),
    (2024, "F", 3, 1100, 0.45),
    (2024, "M", 0, 950, 0.55),
    (2025, "F", 1, 1050, 0.50),
    (2025, "M", 4, 1000, 0.50),
];

fn strata() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("year", DataType::Int32, false),
        Field::new("rhf", DataType::Utf8, true),
        Field::new("hf", DataType::Utf8, true),
        Field::new("breakdown", DataType::Utf8, false),
        Field::new("sex", DataType::Utf8, false),
        Field::new("age_group", DataType::Utf8, false),
        Field::new("d", DataType::Int64, false),
        Field::new("n", DataType::Int64, false),
        Field::new("w", DataType::Float64, false),
    ]));
    let none: StringArray = STRATA.iter().map(|_| None::<&str>).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(STRATA.iter().map(|s| s.0).collect::<Int32Array>()),
            Arc::new(none.clone()),
            Arc::new(none),
            Arc::new(STRATA.iter().map(|_| Some("")).collect::<StringArray>()),
            Arc::new(STRATA.iter().map(|s| Some(s.1)).collect::<StringArray>()),
            Arc::new(STRATA.iter().map(|_| Some("20-39")).collect::<StringArray>()),
            Arc::new(STRATA.iter().map(|s| s.2).collect::<Int64Array>()),
            Arc::new(STRATA.iter().map(|s| s.3).collect::<Int64Array>()),
            Arc::new(STRATA.iter().map(|s| s.4).collect::<Float64Array>()),
        ],
    )
    .unwrap()
}

#[tokio::test]
async fn a_pooled_rate_sums_three_years_with_the_middle_years_weights() {
    let ctx = SessionContext::new();
    let raw = strata();
    ctx.register_table("strata", Arc::new(MemTable::try_new(raw.schema(), vec![vec![raw]]).unwrap())).unwrap();
    let pooled = ctx.sql(&pooled_strata_query(&BTreeSet::from([2024]))).await.unwrap().collect().await.unwrap();
    ctx.deregister_table("strata").unwrap();
    let schema = pooled[0].schema();
    ctx.register_table("strata", Arc::new(MemTable::try_new(schema, vec![pooled]).unwrap())).unwrap();
    let cells = ctx.sql(&standardised_cells_query()).await.unwrap().collect().await.unwrap();
    let b = &cells[0];
    assert_eq!(b.num_rows(), 1, "one window, one cell");
    let col =
        |name: &str| datafusion::arrow::compute::cast(b.column_by_name(name).unwrap(), &DataType::Float64).unwrap();
    let get = |name: &str| col(name).as_any().downcast_ref::<Float64Array>().unwrap().value(0);
    // F: d = 2 + 3 + 1 = 6, n = 1000 + 1100 + 1050 = 3150, w = 0.45 (2024);
    // M: d = 1 + 0 + 4 = 5, n = 900 + 950 + 1000 = 2850, w = 0.55.
    let rate = 1000.0 * (0.45 * 6.0 / 3150.0 + 0.55 * 5.0 / 2850.0);
    let variance = 1e6 * (0.45 * 0.45 * 6.0 / (3150.0 * 3150.0) + 0.55 * 0.55 * 5.0 / (2850.0 * 2850.0));
    let w_max = f64::max(0.45 / 3150.0, 0.55 / 2850.0);
    assert_eq!(get("year"), 2024.0, "the middle year");
    assert_eq!(get("numerator"), 11.0, "Σd over the window");
    assert_eq!(get("denominator"), 6000.0, "Σn over the window");
    assert!((get("value") - rate).abs() < 1e-12, "{} ≠ {rate}", get("value"));
    assert!((get("variance") - variance).abs() < 1e-12 * variance, "{} ≠ {variance}", get("variance"));
    assert!((get("w_max") - w_max).abs() < 1e-18, "{} ≠ {w_max}", get("w_max"));
    // An average yearly rate: between the single years' rates here.
    let single = |y: i32| {
        let s: Vec<_> = STRATA.iter().filter(|s| s.0 == y).collect();
        1000.0 * s.iter().map(|s| s.4 * s.2 as f64 / s.3 as f64).sum::<f64>()
    };
    assert!(rate > single(2024).min(single(2023)) && rate < single(2025).max(single(2023)));
    // No window without its year after: 2025 is no middle year.
    let none = BTreeSet::from([2025]);
    ctx.deregister_table("strata").unwrap();
    let raw = strata();
    ctx.register_table("strata", Arc::new(MemTable::try_new(raw.schema(), vec![vec![raw]]).unwrap())).unwrap();
    let edge = ctx.sql(&pooled_strata_query(&none)).await.unwrap().collect().await.unwrap();
    let rows: usize = edge.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 2, "the query sums what there is; the build only asks for windows of three years");
}

fn cell(hf: &str, year: i32, period: &str, numerator: i64) -> lms_queries::suppress::Cell {
    lms_queries::suppress::Cell {
        indicator: "education_contacts_rate".into(),
        year,
        period: period.into(),
        level: lms_queries::Level::Hf,
        // Each trust in a region of its own here: no group links them.
        rhf: Some(if hf == "HUS" { "HV" } else { "HSO" }.into()),
        hf: Some(hf.into()),
        breakdown: String::new(),
        numerator,
        denominator: Some(10_000.0),
        value: Some(numerator as f64 / 10.0),
        ci_low: None,
        ci_high: None,
        ci99_low: None,
        ci99_high: None,
        share: false,
        suppressed: false,
        denominator_suppressed: false,
        reason: None,
        compared: None,
        coverage: None,
        target: None,
    }
}

/// A pooled window whose numerator is 10 + 3 + 12 = 25 would give the hidden 3 of 2024 away (25 −
/// 10 − 12): it is hidden with it (one count, one fate: reason `shared`). A window whose years are
/// all shown stays.
#[test]
fn a_pooled_window_hides_with_a_hidden_year() {
    use lms_queries::suppress::Reason;
    let mut cells = vec![
        cell("HUS", 2023, "2023", 10),
        cell("HUS", 2024, "2024", 3),
        cell("HUS", 2025, "2025", 12),
        cell("HUS", 2024, "2023-2025", 25),
        cell("SSHF", 2023, "2023", 40),
        cell("SSHF", 2024, "2024", 50),
        cell("SSHF", 2025, "2025", 60),
        cell("SSHF", 2024, "2023-2025", 150),
    ];
    let report = lms_queries::protect::protect(&mut cells, 5, &[]).unwrap();
    let get = |hf: &str, period: &str, cells: &[lms_queries::suppress::Cell]| {
        cells.iter().find(|c| c.hf.as_deref() == Some(hf) && c.period == period).unwrap().clone()
    };
    let hus = get("HUS", "2024", &cells);
    assert_eq!((hus.suppressed, hus.reason), (true, Some(Reason::Primary)));
    let window = get("HUS", "2023-2025", &cells);
    assert_eq!((window.suppressed, window.reason), (true, Some(Reason::Shared)));
    assert!(!get("SSHF", "2023-2025", &cells).suppressed);
    assert!(!get("HUS", "2023", &cells).suppressed && !get("HUS", "2025", &cells).suppressed);
    assert_eq!((report.primary, report.shared, report.secondary), (1, 1, 0));
}
