//! `lms audit disclosure`: the protection check of a committed publication, as an attacker sees
//! it — the served `indicator_values` (its hidden figures withheld, its reasons `disclosure` and
//! `coverage`) and `data_quality`'s rows loaded — with every relation of [`crate::relations`]. For
//! each hidden count: the attacker's interval, exactly (two linear programmes each), the relations
//! that bound it, and the finer reason the warehouse recorded (`disclosure` table).

use std::collections::{BTreeMap, HashSet};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use lms_lake::{Lake, Snapshot};
use serde::Serialize;

use crate::batch::{collect, column};
use crate::catalogue::{self, Unit};
use crate::error::QueryError;
use crate::protect::{self, Finding, Mode, Scope};
use crate::relations::{Model, RowsLoaded};
use crate::suppress::{Cell, Reason, Served};
use crate::tables::{DISCLOSURE, read_cells};
use crate::warehouse::{Access, Warehouse};

/// The audit of one publication.
#[derive(Debug, Serialize)]
pub struct Audit {
    pub version: u64,
    pub digest: Option<String>,
    pub min_count: i64,
    pub cells: usize,
    pub hidden_for_disclosure: usize,
    pub hidden_for_coverage: usize,
    /// Hidden counts (numerators, complements, denominators), each once.
    pub counts: Vec<AuditedCount>,
    pub exposed: usize,
    pub programmes: usize,
}

/// One hidden count and what the attacker can know of it.
#[derive(Debug, Serialize)]
pub struct AuditedCount {
    /// The first cell that hides it, in words.
    pub cell: String,
    pub indicator: String,
    pub period: String,
    pub level: &'static str,
    pub rhf: Option<String>,
    pub hf: Option<String>,
    pub breakdown: String,
    /// `numerator`, `complement` or `denominator`.
    pub what: &'static str,
    /// Why the cell is hidden, as the warehouse recorded it (never served).
    pub reason: Option<&'static str>,
    /// The attacker's smallest and largest value; `None` where unbounded.
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub exposed: bool,
    /// The relations and shown figures that name its hidden atoms, in words.
    pub relations: Vec<String>,
}

/// A cell's key as text: (indicator, period, level, rhf, hf, breakdown).
type CellKey = (String, String, String, Option<String>, Option<String>, String);

/// The `min_count` a publication was built with (its fingerprint says), else `default`.
pub fn min_count_of(snapshot: &Snapshot, default: i64) -> i64 {
    snapshot
        .published
        .as_deref()
        .and_then(|f| f.split(';').find_map(|part| part.strip_prefix("min_count=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Audits the publication of `snapshot` with threshold `min_count`.
pub async fn audit(lake: &Lake, snapshot: &Snapshot, min_count: i64) -> Result<Audit, QueryError> {
    if snapshot.published.is_none() {
        return Err(QueryError::Lake(format!("version {} has no publication", snapshot.version)));
    }
    let warehouse = Warehouse::at(lake, snapshot, Access::Warehouse).await?;
    let ctx = warehouse.context();
    let units: BTreeMap<&str, Unit> = catalogue::embedded().iter().map(|i| (i.id.as_str(), i.unit)).collect();
    // What is served: the attacker's view.
    let served = collect(ctx, "SELECT * FROM indicator_values").await?;
    let mut cells: Vec<Cell> = Vec::new();
    for b in &served {
        let ids = column(b, "indicator", &DataType::Utf8)?;
        let reasons = column(b, "suppression_reason", &DataType::Utf8)?;
        let (ids, reasons) = (ids.as_string::<i32>(), reasons.as_string::<i32>());
        let mut read = read_cells(b, |i| {
            let id = ids.value(i);
            let unit =
                units.get(id).ok_or_else(|| QueryError::Sql(format!("indicator_values: unknown indicator {id}")))?;
            Ok((id.to_string(), *unit))
        })?;
        for (i, c) in read.iter_mut().enumerate() {
            let served = if reasons.is_null(i) { None } else { Served::parse(reasons.value(i)) };
            c.reason = match served {
                Some(Served::Coverage) => Some(Reason::Coverage),
                Some(Served::Disclosure) => Some(Reason::Secondary),
                None => None,
            };
            let counted = crate::relations::counts(&c.indicator).is_some_and(|k| {
                !(if c.breakdown.is_empty() { k.denominator } else { k.breakdown_denominator }).is_empty()
            });
            c.denominator_suppressed = c.suppressed && counted && c.denominator.is_none();
        }
        cells.extend(read);
    }
    // The finer reasons the warehouse recorded.
    let mut finer: BTreeMap<CellKey, Reason> = BTreeMap::new();
    let sql = format!("SELECT indicator, period, level, rhf, hf, breakdown, reason FROM {DISCLOSURE} WHERE suppressed");
    for b in collect(ctx, &sql).await? {
        let text = |name: &str| column(&b, name, &DataType::Utf8);
        let (indicator, period, level, rhf, hf, breakdown, reason) = (
            text("indicator")?,
            text("period")?,
            text("level")?,
            text("rhf")?,
            text("hf")?,
            text("breakdown")?,
            text("reason")?,
        );
        let s = |a: &datafusion::arrow::array::ArrayRef, i: usize| {
            let a = a.as_string::<i32>();
            (!a.is_null(i)).then(|| a.value(i).to_string())
        };
        for i in 0..b.num_rows() {
            let Some(r) = s(&reason, i).as_deref().and_then(Reason::parse) else { continue };
            let key = (
                s(&indicator, i).unwrap_or_default(),
                s(&period, i).unwrap_or_default(),
                s(&level, i).unwrap_or_default(),
                s(&rhf, i),
                s(&hf, i),
                s(&breakdown, i).unwrap_or_default(),
            );
            finer.insert(key, r);
        }
    }
    // What data_quality serves beside the cells: the rows loaded per region, extract and year.
    // A region's year with a withheld month (disclosure control withholds them all) is unknown.
    let mut loaded: BTreeMap<(String, String, i32), Option<u64>> = BTreeMap::new();
    let sql = "SELECT rhf, extract, period, rows_loaded FROM data_quality WHERE delivery IS NOT NULL";
    for b in collect(ctx, sql).await? {
        let (rhf, extract, period) = (
            column(&b, "rhf", &DataType::Utf8)?,
            column(&b, "extract", &DataType::Utf8)?,
            column(&b, "period", &DataType::Utf8)?,
        );
        let rows = column(&b, "rows_loaded", &DataType::UInt64)?;
        let (rhf, extract, period) = (rhf.as_string::<i32>(), extract.as_string::<i32>(), period.as_string::<i32>());
        let rows = rows.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
        for i in 0..b.num_rows() {
            let Some(year) = period.value(i).get(..4).and_then(|y| y.parse().ok()) else { continue };
            let sum = loaded.entry((rhf.value(i).to_string(), extract.value(i).to_string(), year)).or_insert(Some(0));
            *sum = sum.zip(rows.is_valid(i).then(|| rows.value(i))).map(|(a, b)| a + b);
        }
    }
    let loaded: Vec<RowsLoaded> =
        loaded.into_iter().map(|((rhf, extract, year), rows)| RowsLoaded { rhf, extract, year, rows }).collect();
    let model = Model::of(&cells).map_err(|e| QueryError::Disclosure(e.to_string()))?.with_rows_loaded(&loaded);
    let check = protect::check(&model, &cells, min_count, Scope::All, Mode::Exact, &mut HashSet::new())
        .map_err(|e| QueryError::Disclosure(e.to_string()))?;
    let counts: Vec<AuditedCount> = check
        .findings
        .iter()
        .map(|f| {
            let c = &cells[f.cell];
            let key = (
                c.indicator.clone(),
                c.period.clone(),
                c.level.as_str().to_string(),
                c.rhf.clone(),
                c.hf.clone(),
                c.breakdown.clone(),
            );
            AuditedCount {
                cell: protect::describe(c),
                indicator: c.indicator.clone(),
                period: c.period.clone(),
                level: c.level.as_str(),
                rhf: c.rhf.clone(),
                hf: c.hf.clone(),
                breakdown: c.breakdown.clone(),
                what: f.what.as_str(),
                reason: finer.get(&key).map(|r| r.as_str()),
                low: f.low.is_finite().then_some(f.low),
                high: f.high.is_finite().then_some(f.high),
                exposed: f.exposed(min_count),
                relations: bounds(&model, f),
            }
        })
        .collect();
    Ok(Audit {
        version: snapshot.version,
        digest: snapshot.digest.clone(),
        min_count,
        cells: cells.len(),
        hidden_for_disclosure: cells.iter().filter(|c| c.suppressed && c.reason != Some(Reason::Coverage)).count(),
        hidden_for_coverage: cells.iter().filter(|c| c.reason == Some(Reason::Coverage)).count(),
        exposed: counts.iter().filter(|c| c.exposed).count(),
        counts,
        programmes: check.programmes,
    })
}

/// The relations and shown figures that bound a finding, in words.
fn bounds(model: &Model, f: &Finding) -> Vec<String> {
    let mut out: Vec<String> = f.relations.iter().map(|&r| model.relation_text(&model.relations[r])).collect();
    for &n in &f.facts {
        let number = &model.numbers[n];
        let atoms: Vec<String> = number.atoms.iter().map(|&a| model.atoms[a].to_string()).collect();
        out.push(format!("shown: {} = {}", atoms.join(" + "), number.value));
    }
    for &(a, v) in &f.known {
        out.push(format!("shown: {} = {v}", model.atoms[a]));
    }
    out
}
