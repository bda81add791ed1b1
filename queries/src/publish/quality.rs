//! `data_quality` (deliveries, rows, coverage, what disclosure control cost) and coverage, which
//! also withholds cells.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::SessionContext;
use lms_lake::Snapshot;
use serde::Serialize;

use crate::batch::{collect, column, json_batches};
use crate::catalogue::{Indicator, Level};
use crate::cell::{Cell, Reason, Served};
use crate::error::QueryError;
use crate::tables::{PUBLICATION_SOURCE, data_quality_schema};

/// `data_quality` of the lake at `snapshot`.
/// `reused`: the residence counts of coding periods taken from the publication replaced (the build's
/// coding table holds only the years rebuilt).
pub(super) async fn data_quality(
    ctx: &SessionContext,
    snapshot: &Snapshot,
    reused: &BTreeMap<(String, String), (u64, u64)>,
    coverage: &Coverage,
    cells: &[Cell],
    withheld: &BTreeSet<(String, String, i32)>,
    catalogue: &[Indicator],
) -> Result<Vec<RecordBatch>, QueryError> {
    #[derive(Serialize, Default)]
    struct Row {
        source: String,
        rhf: Option<String>,
        extract: Option<String>,
        period: Option<String>,
        delivery: Option<String>,
        loaded_at: Option<String>,
        files_rejected: u64,
        rows_read: Option<u64>,
        rows_loaded: Option<u64>,
        rows_rejected: u64,
        rejected_by_rule: BTreeMap<String, u64>,
        residence_unknown: Option<u64>,
        residence_mapped_by_share: Option<u64>,
        dangling_evaluations: Option<u64>,
        coverage: Option<f64>,
        indicator: Option<String>,
        cells: Option<u64>,
        cells_hidden_disclosure: Option<u64>,
        cells_hidden_coverage: Option<u64>,
    }
    type Key = (String, Option<String>, Option<String>, Option<String>);
    // The latest record of each delivered file (a backfill records a file again).
    let mut latest: BTreeMap<(&str, &str), &lms_lake::DeliveryRecord> = BTreeMap::new();
    for d in &snapshot.deliveries {
        latest.insert((&d.source, &d.file), d);
    }
    let mut rows: BTreeMap<Key, Row> = BTreeMap::new();
    let key = |d: &lms_lake::DeliveryRecord| (d.source.clone(), d.rhf.clone(), d.extract.clone(), d.period.clone());
    for d in latest.values() {
        let row = rows.entry(key(d)).or_insert_with(|| Row {
            source: d.source.clone(),
            rhf: d.rhf.clone(),
            extract: d.extract.clone(),
            period: d.period.clone(),
            rows_read: Some(0),
            rows_loaded: Some(0),
            ..Row::default()
        });
        if d.status == lms_lake::DeliveryStatus::Rejected {
            row.files_rejected += 1;
        }
    }
    for d in snapshot.periods.values() {
        let row = rows.get_mut(&key(d)).ok_or_else(|| QueryError::Lake(format!("{}: no delivery record", d.file)))?;
        row.delivery = Some(d.file.clone());
        row.loaded_at = Some(to_micros_text(d.processed_at));
        // Withheld where disclosure control found them to pin a hidden count.
        let year = d.period.as_deref().and_then(|p| p.get(..4)).and_then(|y| y.parse::<i32>().ok());
        let hidden = match (&d.rhf, &d.extract, year) {
            (Some(rhf), Some(extract), Some(year)) => withheld.contains(&(rhf.clone(), extract.clone(), year)),
            _ => false,
        };
        (row.rows_read, row.rows_loaded) = if hidden { (None, None) } else { (Some(d.rows_read), Some(d.rows_loaded)) };
        row.rows_rejected = d.rows_rejected;
        row.rejected_by_rule = d.rejected_by_rule.clone();
    }
    // Contacts left out of residence figures, contacts whose home code was split and placed by
    // population shares, and evaluations of course runs the lake does not hold (the smaller side of
    // each join first: it is the one held in memory).
    let counts = [
        (
            "coding",
            "residence_unknown",
            "SELECT k.rhf, k.period, CAST(sum(k.n) AS BIGINT) AS n
             FROM home h
             RIGHT JOIN (SELECT rhf, period, home_key, count(*) AS n FROM contact GROUP BY rhf, period, home_key) k
               ON h.area = k.home_key
             WHERE h.area IS NULL GROUP BY k.rhf, k.period",
        ),
        (
            "coding",
            "residence_mapped_by_share",
            "SELECT c.rhf, c.period, count(*) AS n
             FROM (SELECT kommune FROM kommune_history GROUP BY kommune HAVING count(*) > 1) s
             JOIN coding c ON c.bostedskommune = s.kommune
             GROUP BY c.rhf, c.period",
        ),
        (
            "evaluation",
            "dangling_evaluations",
            "SELECT e.rhf, e.period, count(*) AS n
             FROM (SELECT DISTINCT rhf, hf, kurs_id FROM activity) a
             RIGHT JOIN evaluation_all e ON a.rhf = e.rhf AND a.hf = e.hf AND a.kurs_id = e.kurs_id
             WHERE a.kurs_id IS NULL GROUP BY e.rhf, e.period",
        ),
    ];
    let mut by_period: BTreeMap<(String, &str, String), u64> = BTreeMap::new();
    for ((rhf, period), (unknown, shared)) in reused {
        by_period.insert((rhf.clone(), "residence_unknown", period.clone()), *unknown);
        by_period.insert((rhf.clone(), "residence_mapped_by_share", period.clone()), *shared);
    }
    for (_, figure, sql) in counts {
        for b in collect(ctx, sql).await? {
            let rhf = column(&b, "rhf", &DataType::Utf8)?;
            let period = column(&b, "period", &DataType::Utf8)?;
            let n = column(&b, "n", &DataType::Int64)?;
            let (rhf, period, n) = (rhf.as_string::<i32>(), period.as_string::<i32>(), n.as_primitive::<Int64Type>());
            for i in 0..b.num_rows() {
                by_period.insert((rhf.value(i).into(), figure, period.value(i).into()), n.value(i) as u64);
            }
        }
    }
    for row in rows.values_mut() {
        let (Some(rhf), Some(extract), Some(period)) = (&row.rhf, &row.extract, &row.period) else { continue };
        if row.delivery.is_none() {
            continue;
        }
        let year = period.get(..4).and_then(|y| y.parse::<i32>().ok());
        row.coverage = year.and_then(|y| coverage.get(&(rhf.clone(), extract.clone(), y)).copied());
        let n = |figure| by_period.get(&(rhf.clone(), figure, period.clone())).copied().unwrap_or(0);
        match extract.as_str() {
            "coding" => {
                row.residence_unknown = Some(n("residence_unknown"));
                row.residence_mapped_by_share = Some(n("residence_mapped_by_share"));
            }
            "evaluation" => row.dangling_evaluations = Some(n("dangling_evaluations")),
            _ => {}
        }
    }
    let mut rows: Vec<Row> = rows.into_values().collect();
    // What disclosure control and coverage cost: per indicator and period, the cells and those
    // hidden, by the served reason only (a count by finer reason would say which cells are small).
    let extract: BTreeMap<&str, &str> = catalogue.iter().map(|i| (i.id.as_str(), i.extract.name())).collect();
    let mut hidden: BTreeMap<(&str, &str), [u64; 3]> = BTreeMap::new();
    for c in cells {
        let n = hidden.entry((&c.indicator, &c.period)).or_default();
        n[0] += 1;
        match c.reason.filter(|_| c.suppressed).map(Reason::served) {
            Some(Served::Disclosure) => n[1] += 1,
            Some(Served::Coverage) => n[2] += 1,
            None => {}
        }
    }
    for ((indicator, period), [all, disclosure, coverage]) in hidden {
        rows.push(Row {
            source: PUBLICATION_SOURCE.into(),
            extract: extract.get(indicator).map(|e| e.to_string()),
            period: Some(period.to_string()),
            indicator: Some(indicator.to_string()),
            cells: Some(all),
            cells_hidden_disclosure: Some(disclosure),
            cells_hidden_coverage: Some(coverage),
            rows_read: Some(0),
            rows_loaded: Some(0),
            ..Row::default()
        });
    }
    json_batches(data_quality_schema(), &rows)
}

/// `data_quality`'s rows loaded per region, extract and year (the deliveries that fill the periods).
pub(super) fn rows_loaded(snapshot: &Snapshot) -> Vec<crate::relations::RowsLoaded> {
    let mut sums: BTreeMap<(&str, &str, i32), u64> = BTreeMap::new();
    for (k, d) in &snapshot.periods {
        if let Some(year) = k.period.get(..4).and_then(|y| y.parse().ok()) {
            *sums.entry((&k.rhf, &k.extract, year)).or_default() += d.rows_loaded;
        }
    }
    sums.into_iter()
        .map(|((rhf, extract, year), rows)| crate::relations::RowsLoaded {
            rhf: rhf.to_string(),
            extract: extract.to_string(),
            year,
            rows: Some(rows),
        })
        .collect()
}

/// Coverage by (rhf, extract, year).
pub type Coverage = BTreeMap<(String, String, i32), f64>;

/// Coverage (indicators.md, "Coverage"): per region, extract and year, the months with an accepted
/// delivery ÷ the months of the year up to the newest month any region delivered of that extract
/// that year. Every region of [`lms_schemas::Rhf::ALL`] has a figure for every (extract, year) any
/// region delivered: 0 where it delivered nothing.
pub fn coverage(snapshot: &Snapshot) -> Coverage {
    coverage_of(snapshot.periods.keys().map(|k| (k.rhf.as_str(), k.extract.as_str(), k.period.as_str())))
}

/// [`coverage`] of the delivered periods: (rhf, extract, `YYYY-MM`).
pub fn coverage_of<'a>(delivered: impl Iterator<Item = (&'a str, &'a str, &'a str)>) -> Coverage {
    let mut months: BTreeMap<(String, String, i32), BTreeSet<u32>> = BTreeMap::new();
    let mut newest: BTreeMap<(String, i32), u32> = BTreeMap::new();
    for (rhf, extract, period) in delivered {
        let (Some(year), Some(month)) =
            (period.get(..4).and_then(|y| y.parse().ok()), period.get(5..7).and_then(|m| m.parse().ok()))
        else {
            continue;
        };
        months.entry((rhf.to_string(), extract.to_string(), year)).or_default().insert(month);
        let n = newest.entry((extract.to_string(), year)).or_default();
        *n = (*n).max(month);
    }
    let mut out = Coverage::new();
    for ((extract, year), last) in newest {
        for rhf in lms_schemas::Rhf::ALL {
            let key = (rhf.code().to_string(), extract.clone(), year);
            let delivered = months.get(&key).map_or(0, |m| m.iter().filter(|&&m| m <= last).count());
            out.insert(key, delivered as f64 / f64::from(last));
        }
    }
    out
}

/// Sets each cell's `coverage` (its region's for the indicator's extract and year; the lowest of
/// the regions for a national cell) and withholds the shown rhf and hf cells whose coverage is below
/// `min_coverage` (reason `coverage`). Returns how many it withheld. After disclosure control: a
/// cell withheld for coverage is not confidential, so it takes no part in secondary suppression.
pub(super) fn withhold_by_coverage(
    cells: &mut [Cell],
    catalogue: &[Indicator],
    coverage: &Coverage,
    min_coverage: f64,
) -> usize {
    let extract: BTreeMap<&str, String> =
        catalogue.iter().map(|i| (i.id.as_str(), i.extract.name().to_string())).collect();
    let mut withheld = 0;
    for c in cells.iter_mut() {
        let Some(extract) = extract.get(c.indicator.as_str()) else { continue };
        // A pooled window's cell: the lowest of its three years.
        let years = if c.pooled() { c.year - 1..=c.year + 1 } else { c.year..=c.year };
        let of = |rhf: &str| {
            years
                .clone()
                .map(|y| coverage.get(&(rhf.to_string(), extract.clone(), y)).copied())
                .collect::<Option<Vec<f64>>>()
                .and_then(|v| v.into_iter().min_by(|a, b| a.total_cmp(b)))
        };
        c.coverage = match (&c.level, &c.rhf) {
            (Level::National, _) => {
                lms_schemas::Rhf::ALL.iter().filter_map(|r| of(r.code())).min_by(|a, b| a.total_cmp(b))
            }
            (_, Some(rhf)) => of(rhf),
            _ => None,
        };
        if c.level != Level::National && !c.suppressed && c.coverage.is_some_and(|v| v < min_coverage) {
            c.suppressed = true;
            c.reason = Some(Reason::Coverage);
            withheld += 1;
        }
    }
    withheld
}

/// A timestamp as the Arrow JSON reader takes it.
fn to_micros_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
