//! The published tables in one place: their names, their schemas, and typed readers of their rows
//! (the server reads them with these, not through JSON). The build writes them (`crate::publish`);
//! what is served is read back here.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::batch::{column, f64f, u64f, utf8};
use crate::catalogue::{Level, Unit};
use crate::cell::{Cell, Compared, Served, Standing};
use crate::error::QueryError;
pub use crate::trend::TrendRow;
use crate::trend::{Direction, Trend};

/// The published tables, readable by every session.
pub const PUBLISHED: [&str; 5] = ["indicator_values", "variation", "data_quality", "funnel", "trend"];

/// The warehouse's own record of disclosure control, written with the published tables but read
/// only on the warehouse host (`Access::Warehouse`): every cell with its figures before
/// withholding and the finer reason it is hidden. Never served (indicators.md, third edition, 3).
pub const DISCLOSURE: &str = "disclosure";

/// The tables a publication writes: the published ones and [`DISCLOSURE`].
pub const WRITTEN: [&str; 6] = ["indicator_values", "variation", "data_quality", "funnel", "trend", DISCLOSURE];

/// `indicator_values`: one row per (indicator, year, period, level, rhf, hf, breakdown).
pub fn indicator_values_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("indicator", false),
        Field::new("year", DataType::Int32, false),
        utf8("period", false),
        utf8("level", false),
        utf8("rhf", true),
        utf8("hf", true),
        utf8("breakdown", false),
        Field::new("numerator", DataType::Int64, true),
        f64f("denominator"),
        f64f("value"),
        f64f("ci_low"),
        f64f("ci_high"),
        f64f("ci99_low"),
        f64f("ci99_high"),
        Field::new("suppressed", DataType::Boolean, false),
        utf8("suppression_reason", true),
        utf8("compared", true),
        f64f("coverage"),
        utf8("target", true),
    ]))
}

/// [`DISCLOSURE`]: one row per cell of `indicator_values`, with its figures whether hidden or not
/// (`indicator_values`' columns up to `ci99_high`), whether it and its denominator are hidden, why
/// (`crate::suppress::Reason`) and its coverage.
pub fn disclosure_schema() -> SchemaRef {
    let values = indicator_values_schema();
    let mut fields: Vec<Field> =
        values.fields().iter().take_while(|f| f.name() != "suppressed").map(|f| f.as_ref().clone()).collect();
    fields.extend([
        Field::new("suppressed", DataType::Boolean, false),
        Field::new("denominator_suppressed", DataType::Boolean, false),
        utf8("reason", true),
        f64f("coverage"),
    ]);
    Arc::new(Schema::new(fields))
}

/// `variation`: one row per (indicator, year, period) of the residence-view standardised rates.
pub fn variation_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("indicator", false),
        Field::new("year", DataType::Int32, false),
        utf8("period", false),
        Field::new("areas", DataType::Int64, false),
        f64f("max"),
        f64f("min"),
        f64f("ratio"),
        f64f("ratio2"),
        f64f("ratio3"),
        f64f("cv"),
        f64f("scv"),
        Field::new("suppressed", DataType::Boolean, false),
    ]))
}

/// `data_quality`: one row per source and (rhf, extract, period) it delivered, from the delivery
/// that fills the period now and the files rejected for it; and one row per indicator and period
/// (`source` = [`PUBLICATION_SOURCE`]) with the cells and those hidden.
pub fn data_quality_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("source", false),
        utf8("rhf", true),
        utf8("extract", true),
        utf8("period", true),
        utf8("delivery", true),
        Field::new("loaded_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
        u64f("files_rejected", false),
        u64f("rows_read", true),
        u64f("rows_loaded", true),
        u64f("rows_rejected", false),
        utf8("rejected_by_rule", false),
        u64f("residence_unknown", true),
        u64f("residence_mapped_by_share", true),
        u64f("dangling_evaluations", true),
        f64f("coverage"),
        utf8("indicator", true),
        u64f("cells", true),
        u64f("cells_hidden_disclosure", true),
        u64f("cells_hidden_coverage", true),
    ]))
}

/// `data_quality`'s `source` on the rows of the publication's own figures: per indicator and
/// period, the cells and those hidden for disclosure and for coverage.
pub const PUBLICATION_SOURCE: &str = "publication";

/// (name, schema) of every published table.
pub fn published_schemas() -> [(&'static str, SchemaRef); 5] {
    [
        ("indicator_values", indicator_values_schema()),
        ("variation", variation_schema()),
        ("data_quality", data_quality_schema()),
        ("funnel", funnel_schema()),
        ("trend", trend_schema()),
    ]
}

/// `trend`: Fingertips' recent trend per (indicator, level, rhf, hf, breakdown) of every share and
/// standardised rate (`crate::trend`).
pub fn trend_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("indicator", false),
        utf8("level", false),
        utf8("rhf", true),
        utf8("hf", true),
        utf8("breakdown", false),
        Field::new("from_year", DataType::Int32, true),
        Field::new("to_year", DataType::Int32, true),
        f64f("slope"),
        f64f("chi2"),
        utf8("trend", false),
        utf8("direction", true),
    ]))
}

impl TrendRow {
    /// The rows as one batch of [`trend_schema`].
    pub fn to_batch(rows: &[TrendRow]) -> Result<RecordBatch, QueryError> {
        use datafusion::arrow::array::{ArrayRef, Int32Array};
        let text = |f: fn(&TrendRow) -> Option<&str>| text_column(rows, f);
        let float = |f: fn(&TrendRow) -> Option<f64>| float_column(rows, f);
        let columns: Vec<ArrayRef> = vec![
            text(|r| Some(&r.indicator)),
            text(|r| Some(r.level.as_str())),
            text(|r| r.rhf.as_deref()),
            text(|r| r.hf.as_deref()),
            text(|r| Some(&r.breakdown)),
            Arc::new(rows.iter().map(|r| r.from_year).collect::<Int32Array>()),
            Arc::new(rows.iter().map(|r| r.to_year).collect::<Int32Array>()),
            float(|r| r.slope),
            float(|r| r.chi2),
            text(|r| Some(r.trend.as_str())),
            text(|r| r.direction.map(Direction::as_str)),
        ];
        RecordBatch::try_new(trend_schema(), columns).map_err(crate::error::sql_error)
    }

    /// The rows of `trend` batches.
    pub fn read(batches: &[RecordBatch]) -> Result<Vec<TrendRow>, QueryError> {
        let mut out = Vec::new();
        for b in batches {
            let c = Columns(b);
            let (indicator, level, rhf, hf) = (c.text("indicator")?, c.text("level")?, c.text("rhf")?, c.text("hf")?);
            let (breakdown, from, to) = (c.text("breakdown")?, c.int32("from_year")?, c.int32("to_year")?);
            let (slope, chi2, trend, direction) =
                (c.float("slope")?, c.float("chi2")?, c.text("trend")?, c.text("direction")?);
            for i in 0..b.num_rows() {
                let bad = |what: &str, v: &Option<String>| {
                    QueryError::Sql(format!("trend: {what} `{}`", v.clone().unwrap_or_default()))
                };
                out.push(TrendRow {
                    indicator: indicator[i].clone().unwrap_or_default(),
                    level: level[i].as_deref().and_then(Level::parse).ok_or_else(|| bad("level", &level[i]))?,
                    rhf: rhf[i].clone(),
                    hf: hf[i].clone(),
                    breakdown: breakdown[i].clone().unwrap_or_default(),
                    from_year: from[i],
                    to_year: to[i],
                    slope: slope[i],
                    chi2: chi2[i],
                    trend: trend[i].as_deref().and_then(Trend::parse).ok_or_else(|| bad("trend", &trend[i]))?,
                    direction: match direction[i].as_deref() {
                        None => None,
                        Some(d) => Some(Direction::parse(d).ok_or_else(|| bad("direction", &direction[i]))?),
                    },
                });
            }
        }
        Ok(out)
    }
}

/// One unit of a funnel: a row of the table `funnel` (the server reads them back as these).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunnelRow {
    pub indicator: String,
    pub year: i32,
    pub level: String,
    #[serde(default)]
    pub rhf: Option<String>,
    #[serde(default)]
    pub hf: Option<String>,
    pub breakdown: String,
    /// The unit's denominator n and share p.
    pub denominator: f64,
    pub value: f64,
    /// p₀, the national share of the same indicator, year and breakdown.
    pub national: f64,
    pub low95: f64,
    pub high95: f64,
    pub low998: f64,
    pub high998: f64,
    /// φ over the group's shown units (none where p₀ is 0 or 1, or fewer than two units).
    #[serde(default)]
    pub phi: Option<f64>,
    /// The χ² test at 5 % found over-dispersion: the limits are widened by √φ.
    pub overdispersed: bool,
    /// `above95`, `above998`, `below95` or `below998`; none inside the 95 % limits.
    #[serde(default)]
    pub outside: Option<String>,
}

pub fn funnel_schema() -> SchemaRef {
    let f = |name: &str| Field::new(name, DataType::Float64, false);
    Arc::new(Schema::new(vec![
        utf8("indicator", false),
        Field::new("year", DataType::Int32, false),
        utf8("level", false),
        utf8("rhf", true),
        utf8("hf", true),
        utf8("breakdown", false),
        f("denominator"),
        f("value"),
        f("national"),
        f("low95"),
        f("high95"),
        f("low998"),
        f("high998"),
        Field::new("phi", DataType::Float64, true),
        Field::new("overdispersed", DataType::Boolean, false),
        utf8("outside", true),
    ]))
}

/// One cell of `indicator_values`, as served.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueRow {
    pub indicator: String,
    pub year: i32,
    /// `YYYY`, or `YYYY-YYYY` for a pooled three-year window (`year` is then its middle year).
    pub period: String,
    pub level: Level,
    pub rhf: Option<String>,
    pub hf: Option<String>,
    pub breakdown: String,
    pub numerator: Option<i64>,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub ci99_low: Option<f64>,
    pub ci99_high: Option<f64>,
    pub suppressed: bool,
    /// Why the cell is hidden (`GET /api/v1/legend`).
    pub suppression_reason: Option<Served>,
    /// An rhf or hf cell against the nation.
    pub compared: Option<Compared>,
    /// The region's share of the year's months delivered (national: the lowest region's).
    pub coverage: Option<f64>,
    /// Against the indicator's configured target.
    pub target: Option<Standing>,
}

impl ValueRow {
    /// A pooled three-year window's cell (its period is not a single year).
    pub fn pooled(&self) -> bool {
        self.period.len() > 4
    }

    /// The rows as one batch of [`indicator_values_schema`] (a non-finite number is written as
    /// none, as it is read).
    pub fn to_batch(rows: &[ValueRow]) -> Result<RecordBatch, QueryError> {
        use datafusion::arrow::array::{ArrayRef, BooleanArray, Int32Array, Int64Array};
        let text = |f: fn(&ValueRow) -> Option<&str>| text_column(rows, f);
        let float = |f: fn(&ValueRow) -> Option<f64>| float_column(rows, f);
        let columns: Vec<ArrayRef> = vec![
            text(|r| Some(&r.indicator)),
            Arc::new(rows.iter().map(|r| Some(r.year)).collect::<Int32Array>()),
            text(|r| Some(&r.period)),
            text(|r| Some(r.level.as_str())),
            text(|r| r.rhf.as_deref()),
            text(|r| r.hf.as_deref()),
            text(|r| Some(&r.breakdown)),
            Arc::new(rows.iter().map(|r| r.numerator).collect::<Int64Array>()),
            float(|r| r.denominator),
            float(|r| r.value),
            float(|r| r.ci_low),
            float(|r| r.ci_high),
            float(|r| r.ci99_low),
            float(|r| r.ci99_high),
            Arc::new(rows.iter().map(|r| Some(r.suppressed)).collect::<BooleanArray>()),
            text(|r| r.suppression_reason.map(Served::as_str)),
            text(|r| r.compared.map(Compared::as_str)),
            float(|r| r.coverage),
            text(|r| r.target.map(Standing::as_str)),
        ];
        RecordBatch::try_new(indicator_values_schema(), columns).map_err(crate::error::sql_error)
    }

    /// The rows of `indicator_values` batches.
    pub fn read(batches: &[RecordBatch]) -> Result<Vec<ValueRow>, QueryError> {
        let mut out = Vec::new();
        for b in batches {
            let c = Columns(b);
            let (indicator, year, period, level) =
                (c.text("indicator")?, c.int32("year")?, c.text("period")?, c.text("level")?);
            let (rhf, hf, breakdown) = (c.text("rhf")?, c.text("hf")?, c.text("breakdown")?);
            let numerator = c.int64("numerator")?;
            let (denominator, value) = (c.float("denominator")?, c.float("value")?);
            let (ci_low, ci_high, ci99_low, ci99_high) =
                (c.float("ci_low")?, c.float("ci_high")?, c.float("ci99_low")?, c.float("ci99_high")?);
            let suppressed = c.boolean("suppressed")?;
            let (reason, compared, coverage, target) =
                (c.text("suppression_reason")?, c.text("compared")?, c.float("coverage")?, c.text("target")?);
            for i in 0..b.num_rows() {
                let parsed = |what: &str, v: Option<String>| {
                    QueryError::Sql(format!("indicator_values: {what} `{}`", v.unwrap_or_default()))
                };
                out.push(ValueRow {
                    indicator: indicator[i].clone().unwrap_or_default(),
                    year: year[i].unwrap_or_default(),
                    period: period[i].clone().unwrap_or_default(),
                    level: level[i]
                        .as_deref()
                        .and_then(Level::parse)
                        .ok_or_else(|| parsed("level", level[i].clone()))?,
                    rhf: rhf[i].clone(),
                    hf: hf[i].clone(),
                    breakdown: breakdown[i].clone().unwrap_or_default(),
                    numerator: numerator[i],
                    denominator: denominator[i],
                    value: value[i],
                    ci_low: ci_low[i],
                    ci_high: ci_high[i],
                    ci99_low: ci99_low[i],
                    ci99_high: ci99_high[i],
                    suppressed: suppressed[i].unwrap_or_default(),
                    suppression_reason: match reason[i].as_deref() {
                        None => None,
                        Some(r) => {
                            Some(Served::parse(r).ok_or_else(|| parsed("suppression_reason", reason[i].clone()))?)
                        }
                    },
                    compared: match compared[i].as_deref() {
                        None => None,
                        Some(r) => Some(Compared::parse(r).ok_or_else(|| parsed("compared", compared[i].clone()))?),
                    },
                    coverage: coverage[i],
                    target: match target[i].as_deref() {
                        None => None,
                        Some(r) => Some(Standing::parse(r).ok_or_else(|| parsed("target", target[i].clone()))?),
                    },
                });
            }
        }
        Ok(out)
    }
}

/// One row of `variation`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct VariationRow {
    pub indicator: String,
    pub year: i32,
    pub period: String,
    pub areas: i64,
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub ratio: Option<f64>,
    pub ratio2: Option<f64>,
    pub ratio3: Option<f64>,
    pub cv: Option<f64>,
    pub scv: Option<f64>,
    pub suppressed: bool,
}

impl VariationRow {
    /// The rows of `variation` batches.
    pub fn read(batches: &[RecordBatch]) -> Result<Vec<VariationRow>, QueryError> {
        let mut out = Vec::new();
        for b in batches {
            let c = Columns(b);
            let (indicator, year, period, areas) =
                (c.text("indicator")?, c.int32("year")?, c.text("period")?, c.int64("areas")?);
            let (max, min, ratio, ratio2, ratio3) =
                (c.float("max")?, c.float("min")?, c.float("ratio")?, c.float("ratio2")?, c.float("ratio3")?);
            let (cv, scv, suppressed) = (c.float("cv")?, c.float("scv")?, c.boolean("suppressed")?);
            for i in 0..b.num_rows() {
                out.push(VariationRow {
                    indicator: indicator[i].clone().unwrap_or_default(),
                    year: year[i].unwrap_or_default(),
                    period: period[i].clone().unwrap_or_default(),
                    areas: areas[i].unwrap_or_default(),
                    max: max[i],
                    min: min[i],
                    ratio: ratio[i],
                    ratio2: ratio2[i],
                    ratio3: ratio3[i],
                    cv: cv[i],
                    scv: scv[i],
                    suppressed: suppressed[i].unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }
}

impl FunnelRow {
    /// The rows of `funnel` batches.
    pub fn read(batches: &[RecordBatch]) -> Result<Vec<FunnelRow>, QueryError> {
        let mut out = Vec::new();
        for b in batches {
            let c = Columns(b);
            let (indicator, year, level) = (c.text("indicator")?, c.int32("year")?, c.text("level")?);
            let (rhf, hf, breakdown) = (c.text("rhf")?, c.text("hf")?, c.text("breakdown")?);
            let (denominator, value, national) = (c.float("denominator")?, c.float("value")?, c.float("national")?);
            let (low95, high95, low998, high998) =
                (c.float("low95")?, c.float("high95")?, c.float("low998")?, c.float("high998")?);
            let (phi, overdispersed, outside) = (c.float("phi")?, c.boolean("overdispersed")?, c.text("outside")?);
            for i in 0..b.num_rows() {
                out.push(FunnelRow {
                    indicator: indicator[i].clone().unwrap_or_default(),
                    year: year[i].unwrap_or_default(),
                    level: level[i].clone().unwrap_or_default(),
                    rhf: rhf[i].clone(),
                    hf: hf[i].clone(),
                    breakdown: breakdown[i].clone().unwrap_or_default(),
                    denominator: denominator[i].unwrap_or_default(),
                    value: value[i].unwrap_or_default(),
                    national: national[i].unwrap_or_default(),
                    low95: low95[i].unwrap_or_default(),
                    high95: high95[i].unwrap_or_default(),
                    low998: low998[i].unwrap_or_default(),
                    high998: high998[i].unwrap_or_default(),
                    phi: phi[i],
                    overdispersed: overdispersed[i].unwrap_or_default(),
                    outside: outside[i].clone(),
                });
            }
        }
        Ok(out)
    }
}

/// One row of the view `data_freshness`: per source, region and extract, the newest delivery and
/// the months delivered.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FreshnessRow {
    pub source: String,
    pub rhf: Option<String>,
    pub extract: Option<String>,
    /// When the newest delivery was loaded, as text.
    pub newest_delivery: Option<String>,
    pub months_delivered: Option<i64>,
}

impl FreshnessRow {
    /// The query whose answer [`FreshnessRow::read`] reads.
    pub const QUERY: &str = "SELECT source, rhf, extract, CAST(newest_delivery AS VARCHAR) AS newest_delivery, \
                             months_delivered FROM data_freshness ORDER BY source, rhf, extract";

    pub fn read(batches: &[RecordBatch]) -> Result<Vec<FreshnessRow>, QueryError> {
        let mut out = Vec::new();
        for b in batches {
            let c = Columns(b);
            let (source, rhf, extract) = (c.text("source")?, c.text("rhf")?, c.text("extract")?);
            let (newest, months) = (c.text("newest_delivery")?, c.int64("months_delivered")?);
            for i in 0..b.num_rows() {
                out.push(FreshnessRow {
                    source: source[i].clone().unwrap_or_default(),
                    rhf: rhf[i].clone(),
                    extract: extract[i].clone(),
                    newest_delivery: newest[i].clone(),
                    months_delivered: months[i],
                });
            }
        }
        Ok(out)
    }
}

/// A text column of `rows`.
fn text_column<R>(rows: &[R], f: fn(&R) -> Option<&str>) -> datafusion::arrow::array::ArrayRef {
    Arc::new(rows.iter().map(f).collect::<datafusion::arrow::array::StringArray>())
}

/// A number column of `rows`; a non-finite number is written as none, as it is read.
fn float_column<R>(rows: &[R], f: fn(&R) -> Option<f64>) -> datafusion::arrow::array::ArrayRef {
    Arc::new(rows.iter().map(|r| f(r).filter(|v| v.is_finite())).collect::<datafusion::arrow::array::Float64Array>())
}

/// Typed columns of one batch, by name (cast to the type asked for).
struct Columns<'a>(&'a RecordBatch);

impl Columns<'_> {
    fn text(&self, name: &str) -> Result<Vec<Option<String>>, QueryError> {
        let a = column(self.0, name, &DataType::Utf8)?;
        Ok(a.as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect())
    }

    fn int32(&self, name: &str) -> Result<Vec<Option<i32>>, QueryError> {
        let a = column(self.0, name, &DataType::Int32)?;
        Ok(a.as_primitive::<Int32Type>().iter().collect())
    }

    fn int64(&self, name: &str) -> Result<Vec<Option<i64>>, QueryError> {
        let a = column(self.0, name, &DataType::Int64)?;
        Ok(a.as_primitive::<Int64Type>().iter().collect())
    }

    /// Non-finite values as none (as the JSON the API writes has them).
    fn float(&self, name: &str) -> Result<Vec<Option<f64>>, QueryError> {
        let a = column(self.0, name, &DataType::Float64)?;
        Ok(a.as_primitive::<Float64Type>().iter().map(|v| v.filter(|x| x.is_finite())).collect())
    }

    fn boolean(&self, name: &str) -> Result<Vec<Option<bool>>, QueryError> {
        let a = column(self.0, name, &DataType::Boolean)?;
        Ok(a.as_boolean().iter().collect())
    }
}

/// The cells of a batch with a cell's columns (`year`, `level`, `rhf`, `hf`, `breakdown`,
/// `numerator`, `denominator`, `value`, `ci_low`, `ci_high`, and where present `suppressed`), the
/// indicator (id, unit) of row `i` being `indicator(i)`.
pub fn read_cells(
    b: &RecordBatch,
    indicator: impl Fn(usize) -> Result<(String, Unit), QueryError>,
) -> Result<Vec<Cell>, QueryError> {
    let year = column(b, "year", &DataType::Int32)?;
    let year = year.as_primitive::<Int32Type>();
    let strings = |name: &str| -> Result<Vec<Option<String>>, QueryError> {
        let a = column(b, name, &DataType::Utf8)?;
        Ok(a.as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect())
    };
    let floats = |name: &str| -> Result<Vec<Option<f64>>, QueryError> {
        let a = column(b, name, &DataType::Float64)?;
        Ok(a.as_primitive::<Float64Type>().iter().map(|v| v.filter(|x| x.is_finite())).collect())
    };
    let (level, rhf, hf, breakdown) = (strings("level")?, strings("rhf")?, strings("hf")?, strings("breakdown")?);
    let numerator = column(b, "numerator", &DataType::Int64)?;
    let numerator = numerator.as_primitive::<Int64Type>();
    let (denominator, value, ci_low, ci_high) =
        (floats("denominator")?, floats("value")?, floats("ci_low")?, floats("ci_high")?);
    let suppressed = match b.column_by_name("suppressed") {
        Some(_) => Some(column(b, "suppressed", &DataType::Boolean)?),
        None => None,
    };
    // What a published cell has beside a computed one's columns.
    let published_floats = |name: &str| -> Result<Vec<Option<f64>>, QueryError> {
        if b.column_by_name(name).is_some() { floats(name) } else { Ok(vec![None; b.num_rows()]) }
    };
    let published_strings = |name: &str| -> Result<Vec<Option<String>>, QueryError> {
        if b.column_by_name(name).is_some() { strings(name) } else { Ok(vec![None; b.num_rows()]) }
    };
    let (ci99_low, ci99_high) = (published_floats("ci99_low")?, published_floats("ci99_high")?);
    let compared = published_strings("compared")?;
    let coverage = published_floats("coverage")?;
    let period = published_strings("period")?;
    let mut out = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let (id, unit) = indicator(i)?;
        let level = level[i].as_deref().and_then(Level::parse);
        let level = level.ok_or_else(|| QueryError::Sql(format!("indicator {id}: a cell without a level")))?;
        if year.is_null(i) {
            return Err(QueryError::Sql(format!("indicator {id}: a cell without a year")));
        }
        out.push(Cell {
            indicator: id,
            year: year.value(i),
            period: period[i].clone().unwrap_or_else(|| year.value(i).to_string()),
            level,
            rhf: rhf[i].clone(),
            hf: hf[i].clone(),
            breakdown: breakdown[i].clone().unwrap_or_default(),
            numerator: if numerator.is_null(i) { 0 } else { numerator.value(i) },
            denominator: denominator[i],
            value: value[i],
            ci_low: ci_low[i],
            ci_high: ci_high[i],
            ci99_low: ci99_low[i],
            ci99_high: ci99_high[i],
            share: unit == Unit::Share,
            suppressed: suppressed.as_ref().is_some_and(|s| s.as_boolean().value(i)),
            denominator_suppressed: false,
            // What is served says only `disclosure` or `coverage`: a reader that needs the reason
            // sets it (`crate::audit`).
            reason: None,
            compared: compared[i].as_deref().and_then(Compared::parse),
            coverage: coverage[i],
            target: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the build writes the server reads back, field for field (hidden, shown, every state).
    #[test]
    fn value_rows_written_are_the_rows_read() {
        let shown = ValueRow {
            indicator: "cancelled_share".into(),
            year: 2024,
            period: "2024".into(),
            level: Level::Hf,
            rhf: Some("HV".into()),
            hf: Some("HB".into()),
            breakdown: String::new(),
            numerator: Some(3),
            denominator: Some(40.0),
            value: Some(0.075),
            ci_low: Some(0.026),
            ci_high: Some(0.199),
            ci99_low: Some(0.01),
            ci99_high: Some(0.3),
            suppressed: false,
            suppression_reason: None,
            compared: Some(Compared::Similar),
            coverage: Some(1.0),
            target: Some(Standing::Below),
        };
        let hidden = ValueRow {
            period: "2023-2025".into(),
            level: Level::National,
            rhf: None,
            hf: None,
            breakdown: "sex=female".into(),
            numerator: None,
            value: None,
            ci_low: None,
            ci_high: None,
            ci99_low: None,
            ci99_high: Some(f64::NAN),
            suppressed: true,
            suppression_reason: Some(Served::Disclosure),
            compared: None,
            target: None,
            ..shown.clone()
        };
        let batch = ValueRow::to_batch(&[shown.clone(), hidden.clone()]).unwrap();
        assert_eq!(batch.schema(), indicator_values_schema());
        let read = ValueRow::read(&[batch]).unwrap();
        // A non-finite number is none, as the served JSON has it.
        assert_eq!(read, vec![shown, ValueRow { ci99_high: None, ..hidden }]);
    }
}
