//! One indicator's cells: the prelude's views, the indicator's SQL (standardised ones through
//! `sql/standardise.sql`, with pooled windows), and the intervals.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use lms_lake::Snapshot;

use super::sql::{PRELUDE, STANDARDISE};
use crate::batch::{collect, column, conform, f64f, statements, utf8};
use crate::catalogue::{self, Indicator, Method, Unit};
use crate::cell::Cell;
use crate::error::{QueryError, sql_error};
use crate::interval;
use crate::keep::Keep;
use crate::tables::read_cells;

/// Prelude views kept in memory after their first evaluation: each is read by several indicators.
/// `contact` is not (it is the size of the coding table); `contact_cube` summarises it.
const MATERIALISED: [&str; 8] = [
    "course_run",
    "home",
    "catchment_population",
    "std_weight",
    "std_weight_age",
    "evaluation_unit",
    "contact_cube",
    "catchment_strata",
];

/// Prelude views with a row per respondent, evaluated once and kept in Parquet files in a temporary
/// directory of the warehouse host (removed when the build ends) rather than in memory: they grow
/// with the lake.
const ON_DISK: [&str; 3] = ["response", "pam_pair", "unit_pam_pair"];

/// Creates the prelude's views, materialising the ones several indicators read: in memory, or
/// those of [`ON_DISK`] as Parquet files in `scratch` (all of them as files where `keep` says so).
pub(super) async fn prepare(ctx: &SessionContext, scratch: &std::path::Path, keep: &Keep) -> Result<(), QueryError> {
    for statement in statements(PRELUDE) {
        let started = std::time::Instant::now();
        ctx.sql(&statement)
            .await
            .map_err(|e| QueryError::Sql(format!("prelude: {e}")))?
            .collect()
            .await
            .map_err(sql_error)?;
        let name = statement
            .split_whitespace()
            .skip_while(|w| !w.eq_ignore_ascii_case("VIEW"))
            .nth(1)
            .unwrap_or_default()
            .to_string();
        if tracing::enabled!(tracing::Level::TRACE) {
            let plan =
                ctx.table(name.as_str()).await.map_err(sql_error)?.create_physical_plan().await.map_err(sql_error)?;
            let plan = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
            tracing::trace!(view = %name, %plan, "prelude plan");
        }
        let files = matches!(keep, Keep::Files { .. });
        if MATERIALISED.contains(&name.as_str()) || (files && ON_DISK.contains(&name.as_str())) {
            keep.view(ctx, &name).await?;
        } else if ON_DISK.contains(&name.as_str()) {
            keep_on_disk(ctx, &name, scratch).await?;
        }
        tracing::debug!(view = %name, seconds = started.elapsed().as_secs_f64(), "prelude view");
    }
    Ok(())
}

/// Evaluates the view `name` once into `scratch/{name}.parquet` and puts that file in its place
/// (DataFusion writes the file, with the view's schema, even where the view has no rows).
pub(super) async fn keep_on_disk(
    ctx: &SessionContext,
    name: &str,
    scratch: &std::path::Path,
) -> Result<(), QueryError> {
    let path = scratch.join(format!("{name}.parquet"));
    let path = path.to_str().ok_or_else(|| QueryError::Sql(format!("{}: not UTF-8", path.display())))?;
    let view = ctx.table(name).await.map_err(sql_error)?;
    let schema = view.schema().inner().clone();
    // A scratch file, read once or twice on this host: no compression to spend time on, and row
    // groups written one at a time and small, so the writer holds little of the view at once
    // (the default writes a million rows per group, several groups in parallel).
    let mut parquet = datafusion::config::TableParquetOptions::default();
    parquet.global.compression = Some("uncompressed".into());
    parquet.global.max_row_group_size = 64 * 1024;
    parquet.global.allow_single_file_parallelism = false;
    view.write_parquet(path, DataFrameWriteOptions::new().with_single_file_output(true), Some(parquet))
        .await
        .map_err(sql_error)?;
    ctx.deregister_table(name).map_err(sql_error)?;
    let options = ParquetReadOptions::default().schema(&schema);
    ctx.register_parquet(name, path, options).await.map_err(sql_error)
}

/// The level of a cell follows from which of rhf and hf it names.
const LEVEL: &str = "CASE WHEN hf IS NOT NULL THEN 'hf' WHEN rhf IS NOT NULL THEN 'rhf' ELSE 'national' END";

/// Wraps a query returning cells so its columns have the published types.
pub fn cells_query(sql: &str) -> String {
    cells_query_with(sql, &[])
}

/// [`cells_query`], keeping the numeric columns `extra` too (as doubles).
pub fn cells_query_with(sql: &str, extra: &[&str]) -> String {
    let extra: String = extra.iter().map(|c| format!(", CAST({c} AS DOUBLE) AS {c}")).collect();
    format!(
        "SELECT CAST(year AS INT) AS year, {LEVEL} AS level, CAST(rhf AS VARCHAR) AS rhf, CAST(hf AS VARCHAR) AS hf,
                coalesce(CAST(breakdown AS VARCHAR), '') AS breakdown, CAST(numerator AS BIGINT) AS numerator,
                CAST(denominator AS DOUBLE) AS denominator, CAST(value AS DOUBLE) AS value,
                CAST(ci_low AS DOUBLE) AS ci_low, CAST(ci_high AS DOUBLE) AS ci_high{extra}
         FROM (\n{sql}\n) cells"
    )
}

pub(super) fn strata_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("indicator", false),
        Field::new("year", DataType::Int32, true),
        utf8("period", false),
        utf8("level", false),
        utf8("rhf", true),
        utf8("hf", true),
        utf8("breakdown", false),
        utf8("sex", true),
        utf8("age_group", true),
        f64f("d"),
        f64f("n"),
        f64f("w"),
    ]))
}

/// One indicator's cells, and for a standardised one its strata (with `indicator` and `level`).
pub(super) async fn compute(
    ctx: &SessionContext,
    keep: &Keep,
    indicator: &Indicator,
    windows: &BTreeSet<i32>,
) -> Result<(Vec<Cell>, Vec<RecordBatch>), QueryError> {
    let context = |e: QueryError| QueryError::Sql(format!("indicator {} ({}): {e}", indicator.id, indicator.file));
    let (mut batches, mut strata) = match indicator.method {
        Method::Cells => {
            // A mean's query gives its standard deviation (`sd`), for the intervals.
            let df = ctx.sql(&indicator.sql).await.map_err(|e| context(sql_error(e)))?;
            let extra: &[&str] = if df.schema().has_column_with_unqualified_name("sd") { &["sd"] } else { &[] };
            (vec![(collect(ctx, &cells_query_with(&indicator.sql, extra)).await.map_err(context)?, false)], Vec::new())
        }
        Method::Standardised => {
            let df = ctx.sql(&indicator.sql).await.map_err(|e| context(sql_error(e)))?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let raw = df.collect().await.map_err(|e| context(sql_error(e)))?;
            keep.table(ctx, "strata", schema, raw).await?;
            let cells = collect(ctx, &cells_query_with(STANDARDISE, &["variance", "w_max"])).await.map_err(context)?;
            let strata = collect(ctx, &strata_query(&indicator.id, false)).await.map_err(context)?;
            (vec![(cells, false)], conform(strata, strata_schema())?)
        }
    };
    // Pooled three-year windows of the residence-view standardised rates: the strata summed over
    // the window's years, weighted by the middle year's weights (indicators.md, "Pooled three-year
    // rates"), through the same standardisation.
    if indicator.method == Method::Standardised && indicator.view == catalogue::View::Residence && !windows.is_empty() {
        let pooled = collect(ctx, &pooled_strata_query(windows)).await.map_err(context)?;
        let schema = pooled.first().map(|b| b.schema()).unwrap_or_else(strata_schema);
        keep.table(ctx, "strata", schema, pooled).await?;
        let cells = collect(ctx, &standardised_cells_query()).await.map_err(context)?;
        batches.push((cells, true));
        let pooled_strata = collect(ctx, &strata_query(&indicator.id, true)).await.map_err(context)?;
        strata.extend(conform(pooled_strata, strata_schema())?);
    }
    let mut cells = Vec::new();
    for (batches, pooled) in &batches {
        for b in batches {
            let mut read = read_cells(b, |_| Ok((indicator.id.clone(), indicator.unit)))?;
            if *pooled {
                for c in &mut read {
                    c.period = format!("{}-{}", c.year - 1, c.year + 1);
                }
            }
            with_intervals(b, &mut read, indicator)?;
            cells.extend(read);
        }
    }
    Ok((cells, strata))
}

/// The strata of the pooled windows with middle years `windows`, from the single years' `strata`:
/// per stratum d and n summed over the three years, w of the middle year; `year` the middle year.
pub fn pooled_strata_query(windows: &BTreeSet<i32>) -> String {
    let middles: Vec<String> = windows.iter().map(|m| format!("({m})")).collect();
    format!(
        "SELECT m.middle AS year, s.rhf, s.hf, s.breakdown, s.sex, s.age_group,
                sum(s.d) AS d, sum(s.n) AS n, max(CASE WHEN s.year = m.middle THEN s.w END) AS w
         FROM (VALUES {}) AS m(middle)
         JOIN strata s ON s.year >= m.middle - 1 AND s.year <= m.middle + 1
         GROUP BY m.middle, s.rhf, s.hf, s.breakdown, s.sex, s.age_group",
        middles.join(", ")
    )
}

/// The cells of the standardised strata in the table `strata` (`sql/standardise.sql`), with the
/// `variance` and `w_max` their intervals are computed from.
pub fn standardised_cells_query() -> String {
    cells_query_with(STANDARDISE, &["variance", "w_max"])
}

/// The strata of the table `strata` as rows of [`strata_schema`]; `pooled`: of pooled windows.
fn strata_query(indicator: &str, pooled: bool) -> String {
    let period = if pooled {
        "CAST(CAST(year AS INT) - 1 AS VARCHAR) || '-' || CAST(CAST(year AS INT) + 1 AS VARCHAR)"
    } else {
        "CAST(CAST(year AS INT) AS VARCHAR)"
    };
    format!(
        "SELECT '{indicator}' AS indicator, CAST(year AS INT) AS year, {period} AS period, {LEVEL} AS level,
                CAST(rhf AS VARCHAR) AS rhf, CAST(hf AS VARCHAR) AS hf, coalesce(CAST(breakdown AS VARCHAR), '') AS breakdown,
                CAST(sex AS VARCHAR) AS sex, CAST(age_group AS VARCHAR) AS age_group,
                CAST(d AS DOUBLE) AS d, CAST(n AS DOUBLE) AS n, CAST(w AS DOUBLE) AS w
         FROM strata"
    )
}

/// The middle years of the pooled windows of a lake: years whose year before and after also have
/// coded contacts (indicators.md: three consecutive years that all have rows of the extract).
pub fn windows(snapshot: &Snapshot) -> BTreeSet<i32> {
    let years: BTreeSet<i32> = snapshot
        .periods
        .keys()
        .filter(|k| k.extract == "coding")
        .filter_map(|k| k.period.get(..4).and_then(|y| y.parse().ok()))
        .collect();
    years.iter().copied().filter(|y| years.contains(&(y - 1)) && years.contains(&(y + 1))).collect()
}

/// Sets the 95 % and 99.8 % intervals of the cells read from `b` (indicators.md, "Intervals"):
/// Fay–Feuer for standardised rates (from the batch's `variance` and `w_max`), Wilson for shares,
/// normal for means (from `sd`); other cells keep what their query gave (none).
fn with_intervals(b: &RecordBatch, cells: &mut [Cell], indicator: &Indicator) -> Result<(), QueryError> {
    let optional = |name: &str| -> Result<Option<Vec<Option<f64>>>, QueryError> {
        if b.column_by_name(name).is_none() {
            return Ok(None);
        }
        let a = column(b, name, &DataType::Float64)?;
        Ok(Some(a.as_primitive::<Float64Type>().iter().map(|v| v.filter(|x| x.is_finite())).collect()))
    };
    let set = |c: &mut Cell, f: &dyn Fn(interval::Level) -> Option<(f64, f64)>| {
        let (a, b) = (f(interval::L95), f(interval::L998));
        (c.ci_low, c.ci_high) = (a.map(|x| x.0), a.map(|x| x.1));
        (c.ci99_low, c.ci99_high) = (b.map(|x| x.0), b.map(|x| x.1));
    };
    match (indicator.method, indicator.unit) {
        (Method::Standardised, _) => {
            let (variance, w_max) = (optional("variance")?, optional("w_max")?);
            let (Some(variance), Some(w_max)) = (variance, w_max) else {
                return Err(QueryError::Sql(format!(
                    "indicator {}: standardised cells without variance",
                    indicator.id
                )));
            };
            for (i, c) in cells.iter_mut().enumerate() {
                let (Some(rate), Some(variance), Some(w_max)) = (c.value, variance[i], w_max[i]) else { continue };
                set(c, &|level| interval::fay_feuer(rate / 1000.0, variance / 1e6, w_max, level));
            }
        }
        (_, Unit::Share) => {
            for c in cells.iter_mut() {
                let Some(n) = c.denominator else { continue };
                let x = c.numerator as f64;
                set(c, &|level| interval::wilson(x, n, level));
            }
        }
        (_, Unit::Mean) => {
            let Some(sd) = optional("sd")? else { return Ok(()) };
            for (i, c) in cells.iter_mut().enumerate() {
                let (Some(mean), Some(sd)) = (c.value, sd[i]) else { continue };
                let n = c.numerator as f64;
                set(c, &|level| interval::normal(mean, sd, n, level));
            }
        }
        _ => {}
    }
    Ok(())
}
