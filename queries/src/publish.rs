//! Builds the published tables — `indicator_values`, `variation`, `data_quality` — for one version
//! of the lake, and writes them into that version's commit ([`IndicatorPublisher`], the ETL's
//! [`lms_lake::Publish`]). Disclosure control is applied here, before anything is written, so no
//! reader of the published tables can bypass it.
//!
//! Steps: the shared views of `sql/prelude.sql` (materialised once), every indicator file of the
//! catalogue (standardised ones through `sql/standardise.sql`), suppression over all cells together,
//! then `sql/variation.sql` over the suppressed cells, and the data-quality counts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit, UInt64Type,
};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use lms_lake::{DataFile, Lake, LakeError, Publication, Snapshot};
use serde::Serialize;

use crate::catalogue::{self, Indicator, Level, Method, Unit};
use crate::incremental::{self, Reads, Reused};
use crate::keep::Keep;
use crate::suppress::{Cell, Compared, Reason, Suppression};
use crate::{Access, QueryError, Warehouse, json_batches, sql_error, u64f, utf8};
use crate::{compare, interval};
use lms_schemas::ExtractKind;

/// The published tables, readable by every session.
pub const PUBLISHED: [&str; 4] = ["indicator_values", "variation", "data_quality", "funnel"];

/// The warehouse's own record of disclosure control, written with the published tables but read
/// only on the warehouse host (`Access::Warehouse`): every cell with its figures before
/// withholding and the finer reason it is hidden. Never served (indicators.md, third edition, 3).
pub const DISCLOSURE: &str = "disclosure";

/// The tables a publication writes: the published ones and [`DISCLOSURE`].
pub const WRITTEN: [&str; 5] = ["indicator_values", "variation", "data_quality", "funnel", DISCLOSURE];

/// Which disclosure control built a publication (in the publisher's fingerprint: a publication of
/// another is built again, not reused).
pub const DISCLOSURE_CONTROL: &str = "protection-check-1";

const PRELUDE: &str = include_str!("../sql/prelude.sql");
const STANDARDISE: &str = include_str!("../sql/standardise.sql");
const VARIATION: &str = include_str!("../sql/variation.sql");

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

fn f64f(name: &str) -> Field {
    Field::new(name, DataType::Float64, true)
}

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
pub fn published_schemas() -> [(&'static str, SchemaRef); 4] {
    [
        ("indicator_values", indicator_values_schema()),
        ("variation", variation_schema()),
        ("data_quality", data_quality_schema()),
        ("funnel", crate::funnel::funnel_schema()),
    ]
}

/// The published tables of one lake version.
#[derive(Debug)]
pub struct Published {
    pub indicator_values: Vec<RecordBatch>,
    pub variation: Vec<RecordBatch>,
    pub data_quality: Vec<RecordBatch>,
    /// The funnel limits of the share indicators (`crate::funnel`), from the shown cells.
    pub funnel: Vec<RecordBatch>,
    /// [`DISCLOSURE`]: every cell (computed or reused) before withholding.
    pub disclosure: Vec<RecordBatch>,
    /// Every cell, with its figures before withholding (never written: for tests and reports).
    pub cells: Vec<Cell>,
    pub suppression: Suppression,
    /// [`content_digest`] of the tables of [`DIGESTED`].
    pub digest: String,
    /// The years whose year-local indicators this build computed, where it took the other years'
    /// from the publication it replaces (`crate::incremental`); `None`: a full build. `cells` and
    /// `suppression` cover what was computed.
    pub rebuilt: Option<BTreeSet<i32>>,
    /// The years whose evaluation indicators this build computed, where it took the other years'
    /// from the publication it replaces; `None`: all.
    pub evaluation_years: Option<BTreeSet<i32>>,
    /// [`incremental::basis`] of the build's snapshot, recorded with the tables.
    pub basis: Option<incremental::Basis>,
}

/// The tables a publication's digest covers: the figures. `data_quality` is left out: it records
/// when and under which name each delivery was loaded, which differs between two loads of the same
/// deliveries (its counts are as reproducible as the figures).
pub const DIGESTED: [&str; 2] = ["indicator_values", "variation"];

/// SHA-256 of tables' content, as `sha256:` and 64 hex digits: the same rows in the same order give
/// the same digest however they are split into batches or encoded in files, so an auditor can
/// recompute it from the Parquet files with any reader. Fed to the hash, per table: its name; per
/// column its name and one of `int64`, `uint64`, `float64`, `bool`, `text`; then the rows in order,
/// each value as a byte 0 (null) or 1 followed by the value: integers as 8 bytes little-endian,
/// floats as the 8 little-endian bytes of their IEEE 754 bits, booleans as one byte 0 or 1, text as
/// its length in bytes (8 bytes little-endian) and its UTF-8. Names are written as text is.
pub fn content_digest(tables: &[(&str, &Schema, &[RecordBatch])]) -> Result<String, QueryError> {
    use sha2::Digest;
    fn text(h: &mut sha2::Sha256, s: &str) {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    /// The canonical type a column is hashed as, and its name.
    fn canonical(t: &DataType) -> Result<(DataType, &'static str), QueryError> {
        Ok(match t {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Timestamp(..) => {
                (DataType::Int64, "int64")
            }
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => (DataType::UInt64, "uint64"),
            DataType::Float32 | DataType::Float64 => (DataType::Float64, "float64"),
            DataType::Boolean => (DataType::Boolean, "bool"),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => (DataType::Utf8, "text"),
            other => return Err(QueryError::Sql(format!("content digest: no canonical form for {other}"))),
        })
    }
    let mut h = sha2::Sha256::new();
    for (table, schema, batches) in tables {
        text(&mut h, table);
        // From the schema, not a batch: an empty table hashes the same with or without an empty batch.
        let mut types = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let (ty, name) = canonical(field.data_type())?;
            text(&mut h, field.name());
            text(&mut h, name);
            types.push(ty);
        }
        for b in batches.iter() {
            if b.num_columns() != types.len() {
                return Err(QueryError::Sql(format!("content digest: {table}: a batch unlike its schema")));
            }
            let columns = b.columns().iter().zip(&types).map(|(c, ty)| cast(c, ty)).collect::<Result<Vec<_>, _>>();
            let columns = columns.map_err(sql_error)?;
            for row in 0..b.num_rows() {
                for c in &columns {
                    if c.is_null(row) {
                        h.update([0]);
                        continue;
                    }
                    h.update([1]);
                    match c.data_type() {
                        DataType::Int64 => h.update(c.as_primitive::<Int64Type>().value(row).to_le_bytes()),
                        DataType::UInt64 => h.update(c.as_primitive::<UInt64Type>().value(row).to_le_bytes()),
                        DataType::Float64 => {
                            h.update(c.as_primitive::<Float64Type>().value(row).to_bits().to_le_bytes())
                        }
                        DataType::Boolean => h.update([u8::from(c.as_boolean().value(row))]),
                        _ => text(&mut h, c.as_string::<i32>().value(row)),
                    }
                }
            }
        }
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// How the published tables are built.
#[derive(Clone, Debug)]
pub struct BuildOptions<'a> {
    /// The disclosure-control threshold: numerators 1 to `min_count − 1` are suppressed.
    pub min_count: i64,
    /// Reference tables to use instead of the embedded ones, as (name, CSV text): for tests with a
    /// population small enough to work out by hand.
    pub reference: &'a [(&'a str, &'a str)],
    /// Bytes the build's aggregations, sorts and joins may hold together (the build pool of `pool.rs`,
    /// which leaves repartitions out): beyond it, aggregations and sorts spill to temporary files on
    /// the warehouse host.
    /// `None`: no limit. A build that cannot finish within the limit runs again without one.
    pub memory_limit: Option<usize>,
    /// How many partitions the build's plans run in (`None`: DataFusion's default, the cores).
    /// The published tables are the same to the bit whatever it is.
    pub target_partitions: Option<usize>,
    /// Take the cells of the years whose data has not changed from the publication in the
    /// snapshot, which the caller has checked was built by the same definitions and reference data
    /// (`crate::incremental`). `false`: a full build.
    pub reuse: bool,
    /// A session to build in instead of one of this process: a distributed engine's (Ballista's,
    /// see the `lms-ballista` crate), configured with [`configure`]. Such a build keeps no table in
    /// this process's memory: every table its queries read is a Parquet file, the lake's or one
    /// the build writes into a temporary directory of this host, which the engine's executors must
    /// be able to read. [`BuildOptions::memory_limit`] does not apply to it.
    pub session: Option<BuildSession>,
    /// Cells of a region whose coverage of the indicator's extract that year is below this are
    /// withheld (indicators.md, "Coverage": 0.75). 0: none is.
    pub min_coverage: f64,
    /// The configured targets (`[[target]]`, checked with [`crate::target::validate`]).
    pub targets: &'a [crate::target::Target],
}

/// The threshold of [`BuildOptions::min_coverage`] indicators.md sets.
pub const MIN_COVERAGE: f64 = 0.75;

/// A session for [`BuildOptions::session`].
#[derive(Clone)]
pub struct BuildSession(pub SessionContext);

impl std::fmt::Debug for BuildSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BuildSession({})", self.0.session_id())
    }
}

/// The default of [`BuildOptions::memory_limit`] (`[publish] memory_limit_mib`).
pub const BUILD_MEMORY_LIMIT: usize = 256 << 20;

impl Default for BuildOptions<'_> {
    fn default() -> Self {
        BuildOptions {
            min_count: 5,
            reference: &[],
            memory_limit: Some(BUILD_MEMORY_LIMIT),
            target_partitions: None,
            reuse: false,
            session: None,
            min_coverage: MIN_COVERAGE,
            targets: &[],
        }
    }
}

/// The session a build runs in.
/// - Its memory pool ([`crate::pool::BuildPool`]) is fair among the operators that can spill, so
///   one aggregation cannot take what another needs.
/// - Joins keep the order they are written in. Every query of the build puts the small side of a
///   join first: that is the side a hash join holds in memory, and it cannot spill. (The one such
///   side that grows with the lake is the distinct course runs of data quality, matched with the
///   far larger evaluations.) DataFusion would otherwise swap sides by its statistics, which know
///   nothing useful of an aggregation's output: it put the aggregated contacts in the hash table
///   (118 MB at four years of ten times the national volume) and the 400 areas of residence on the
///   streaming side.
fn build_session(options: &BuildOptions<'_>) -> Result<SessionContext, QueryError> {
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    if let Some(BuildSession(ctx)) = &options.session {
        return Ok(ctx.clone());
    }
    let config = configure(datafusion::prelude::SessionConfig::new(), options.target_partitions);
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = options.memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(crate::pool::BuildPool::new(limit)));
    }
    Ok(SessionContext::new_with_config_rt(config, runtime.build_arc().map_err(sql_error)?))
}

/// The settings of a build's session (see [`build_session`]) on top of `config`: the join order as
/// written, and `target_partitions` where given.
pub fn configure(
    mut config: datafusion::prelude::SessionConfig,
    target_partitions: Option<usize>,
) -> datafusion::prelude::SessionConfig {
    if let Some(n) = target_partitions {
        config = config.with_target_partitions(n.max(1));
    }
    config.options_mut().optimizer.join_reordering = false;
    config
}

/// Builds the published tables of the lake at `snapshot`.
pub async fn build(
    lake_url: &str,
    lake: &Lake,
    snapshot: &Snapshot,
    options: &BuildOptions<'_>,
) -> Result<Published, QueryError> {
    match build_within(lake_url, lake, snapshot, options).await {
        // A pool too small for one operator's batch fails the build, and a failed build commits
        // nothing: the load that came with it would wait for an operator. Better to be over the
        // limit once, and say so.
        Err(e) if options.memory_limit.is_some() && e.to_string().contains("Resources exhausted") => {
            tracing::warn!(
                limit_mib = options.memory_limit.unwrap_or_default() >> 20,
                error = %e,
                "the published tables did not fit the build's memory limit; building them again without one"
            );
            build_within(lake_url, lake, snapshot, &BuildOptions { memory_limit: None, ..options.clone() }).await
        }
        built => built,
    }
}

/// [`build`] without its second chance: fails where the build does not fit
/// [`BuildOptions::memory_limit`].
pub async fn build_within(
    lake_url: &str,
    lake: &Lake,
    snapshot: &Snapshot,
    options: &BuildOptions<'_>,
) -> Result<Published, QueryError> {
    let min_count = options.min_count;
    let catalogue = catalogue::embedded();
    let reads = Reads::of(PRELUDE);
    let basis = incremental::basis(snapshot);
    // The basis of the publication in the snapshot, where it may stand in for the unchanged years.
    let before = match (&basis, options.reuse && reads.allow_scoping(catalogue)) {
        (Some(_), true) => incremental::recorded_basis(lake, snapshot).await,
        _ => None,
    };
    // The years whose coding and activity files changed: the year-local indicators' years.
    let rebuilt = match (&before, &basis) {
        (Some(before), Some(now)) => Some(incremental::changed_years(before, now)),
        _ => None,
    };
    // The pooled windows of the lake, and, in an incremental build, the windows holding a rebuilt
    // year: those are computed again, which needs the coding of their three years.
    let windows = windows(snapshot);
    let pooled_scope: Option<BTreeSet<i32>> = rebuilt
        .as_ref()
        .map(|years| windows.iter().copied().filter(|m| years.iter().any(|y| (m - 1..=m + 1).contains(y))).collect());
    let computed_windows = pooled_scope.as_ref().unwrap_or(&windows);
    let scoped;
    let tables = match &rebuilt {
        Some(years) => {
            let mut read: BTreeSet<i32> = years.clone();
            read.extend(computed_windows.iter().flat_map(|m| [m - 1, *m, m + 1]));
            scoped = incremental::scoped(snapshot, &read);
            &scoped
        }
        None => snapshot,
    };
    let session = build_session(options)?;
    let scratch = tempfile::tempdir().map_err(|e| QueryError::Sql(format!("a temporary directory: {e}")))?;
    let keep = match options.session {
        Some(_) => Keep::files(scratch.path().join("tables"))?,
        None => Keep::Memory,
    };
    let warehouse =
        Warehouse::in_session(session, lake_url, lake, tables, Access::Warehouse, options.reference, Arc::new(keep))
            .await?;
    let ctx = warehouse.context();
    let keep = warehouse.keep();
    // Every evaluation row stays readable as `evaluation_all` (data quality's dangling responses);
    // `evaluation` is what the evaluation indicators read: all of it, or the rows of the
    // respondents of the years to compute.
    let evaluations = ctx.table_provider("evaluation").await.map_err(sql_error)?;
    ctx.register_table("evaluation_all", evaluations).map_err(sql_error)?;
    let added = match (&before, &basis) {
        (Some(before), Some(now)) => incremental::added_evaluations(before, now),
        _ => None,
    };
    let evaluation_years = match (added, &rebuilt) {
        (Some(added), Some(rebuilt)) => {
            warehouse.register_extract_files(lake_url, "evaluation_added", ExtractKind::Evaluation, added).await?;
            let years = incremental::evaluation_years(ctx, rebuilt).await?;
            ctx.deregister_table("evaluation").map_err(sql_error)?;
            let within = ctx.sql(&incremental::evaluation_within(&years)).await.map_err(sql_error)?;
            ctx.register_table("evaluation", within.into_view()).map_err(sql_error)?;
            match keep {
                Keep::Memory => keep_on_disk(ctx, "evaluation", scratch.path()).await?,
                Keep::Files { .. } => keep.view(ctx, "evaluation").await?,
            }
            Some(years)
        }
        _ => None,
    };
    // The years each indicator's cells are computed for, where not all (decided once per indicator:
    // the cells are many).
    let mut scope: BTreeMap<&str, &BTreeSet<i32>> = BTreeMap::new();
    for i in catalogue {
        let years = if reads.year_local(i) {
            rebuilt.as_ref()
        } else if reads.of_evaluations(i) {
            evaluation_years.as_ref()
        } else {
            None
        };
        if let Some(years) = years {
            scope.insert(&i.id, years);
        }
    }
    let reused = match (&rebuilt, &pooled_scope) {
        (Some(years), Some(pooled)) => Reused::read(ctx, catalogue, &scope, pooled, years).await?,
        _ => Reused::default(),
    };
    // A single year's cell is kept where its year is computed, a pooled window's where the window
    // holds a rebuilt year.
    let kept = |indicator: &str, year: i32, period: &str| {
        if period.len() > 4 {
            pooled_scope.as_ref().is_none_or(|windows| windows.contains(&year))
        } else {
            scope.get(indicator).is_none_or(|years| years.contains(&year))
        }
    };
    prepare(ctx, scratch.path(), keep).await?;
    let mut cells = Vec::new();
    let mut strata = Vec::new();
    for indicator in catalogue {
        let started = std::time::Instant::now();
        let (mut c, s) = compute(ctx, keep, indicator, computed_windows).await?;
        // The cells of the years not computed are read from tables without those years' rows:
        // the published ones stand in for them.
        c.retain(|c| kept(&c.indicator, c.year, &c.period));
        tracing::debug!(indicator = %indicator.id, seconds = started.elapsed().as_secs_f64(), "indicator computed");
        cells.extend(c);
        strata.extend(s);
    }
    // Disclosure control over every cell, computed or reused (with its true figures): a function
    // of them all, so an incremental build hides what a full one does.
    let computed = cells.len();
    let mut all: Vec<Cell> = cells;
    all.extend(reused.cells);
    let started = std::time::Instant::now();
    let loaded = rows_loaded(snapshot);
    let mut suppression =
        crate::protect::protect(&mut all, min_count, &loaded).map_err(|e| QueryError::Disclosure(e.to_string()))?;
    let withheld: BTreeSet<(String, String, i32)> = suppression
        .rows_withheld
        .iter()
        .map(|&i| (loaded[i].rhf.clone(), loaded[i].extract.clone(), loaded[i].year))
        .collect();
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), cells = all.len(), "disclosure control");
    let coverage = coverage(snapshot);
    suppression.coverage = withhold_by_coverage(&mut all, catalogue, &coverage, options.min_coverage);
    // Compared with the nation over every cell: a computed region's nation may be reused, and the
    // other way round.
    compare::compare(&mut all);
    crate::target::apply(&mut all, options.targets);
    let cells = all[..computed].to_vec();
    // Funnels from the shown cells of every year (computed or reused): a function of them.
    let funnel = vec![crate::funnel::funnel_batch(&crate::funnel::funnel(&all, catalogue))?];
    let disclosure = vec![disclosure_batch(&all)?];
    let indicator_values = vec![cells_batch(&all)?];

    keep.table(ctx, "indicator_values", indicator_values_schema(), indicator_values.clone()).await?;
    let strata_schema = strata.first().map(|b| b.schema()).unwrap_or_else(strata_schema);
    keep.table(ctx, "strata", strata_schema, strata).await?;
    let started = std::time::Instant::now();
    let mut variation = conform(collect(ctx, VARIATION).await?, variation_schema())?;
    if rebuilt.is_some() {
        variation = keep_rows(variation, |indicator, year, period| kept(indicator, year, period))?;
        variation.extend(conform(reused.variation, variation_schema())?);
    }
    let variation = vec![sorted_by_indicator_and_year(&variation)?];
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "variation computed");
    let started = std::time::Instant::now();
    let data_quality = data_quality(ctx, snapshot, &reused.residence, &coverage, &all, &withheld, catalogue).await?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "data quality computed");
    let digest = content_digest(&[
        (DIGESTED[0], &indicator_values_schema(), &indicator_values),
        (DIGESTED[1], &variation_schema(), &variation),
    ])?;
    Ok(Published {
        indicator_values,
        variation,
        data_quality,
        funnel,
        disclosure,
        cells,
        suppression,
        digest,
        rebuilt,
        evaluation_years,
        basis,
    })
}

/// The rows of `batches` (with columns `indicator` and `year`) for which `keep` holds.
fn keep_rows(
    batches: Vec<RecordBatch>,
    keep: impl Fn(&str, i32, &str) -> bool,
) -> Result<Vec<RecordBatch>, QueryError> {
    batches
        .into_iter()
        .map(|b| {
            let indicator = column(&b, "indicator", &DataType::Utf8)?;
            let year = column(&b, "year", &DataType::Int32)?;
            let period = column(&b, "period", &DataType::Utf8)?;
            let (indicator, year) = (indicator.as_string::<i32>(), year.as_primitive::<Int32Type>());
            let period = period.as_string::<i32>();
            let mask: datafusion::arrow::array::BooleanArray =
                (0..b.num_rows()).map(|i| Some(keep(indicator.value(i), year.value(i), period.value(i)))).collect();
            datafusion::arrow::compute::filter_record_batch(&b, &mask).map_err(sql_error)
        })
        .collect()
}

/// `batches` as one batch ordered by (indicator, year), which identify a `variation` row: the order
/// of `sql/variation.sql`, whichever batches the rows come in.
fn sorted_by_indicator_and_year(batches: &[RecordBatch]) -> Result<RecordBatch, QueryError> {
    use datafusion::arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
    let all = concat_batches(&variation_schema(), batches).map_err(sql_error)?;
    let by =
        |name: &str| SortColumn { values: all.column_by_name(name).expect("variation column").clone(), options: None };
    let order = lexsort_to_indices(&[by("indicator"), by("year"), by("period")], None).map_err(sql_error)?;
    take_record_batch(&all, &order).map_err(sql_error)
}

/// Creates the prelude's views, materialising the ones several indicators read: in memory, or
/// those of [`ON_DISK`] as Parquet files in `scratch` (all of them as files where `keep` says so).
async fn prepare(ctx: &SessionContext, scratch: &std::path::Path, keep: &Keep) -> Result<(), QueryError> {
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
async fn keep_on_disk(ctx: &SessionContext, name: &str, scratch: &std::path::Path) -> Result<(), QueryError> {
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

/// The statements of a script whose statements end with a line holding only `;`, without comments.
pub(crate) fn statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        if line.trim() == ";" {
            out.push(std::mem::take(&mut current));
        } else if !line.trim_start().starts_with("--") {
            current.push_str(line);
            current.push('\n');
        }
    }
    out
}

pub(crate) async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
    ctx.sql(sql).await.map_err(sql_error)?.collect().await.map_err(sql_error)
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

fn strata_schema() -> SchemaRef {
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
async fn compute(
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

pub(crate) fn column(batch: &RecordBatch, name: &str, ty: &DataType) -> Result<ArrayRef, QueryError> {
    let c = batch.column_by_name(name).ok_or_else(|| QueryError::Sql(format!("no column `{name}`")))?;
    cast(c, ty).map_err(sql_error)
}

/// Casts each column of `batches` to `schema` (same column order), e.g. Utf8View → Utf8.
fn conform(batches: Vec<RecordBatch>, schema: SchemaRef) -> Result<Vec<RecordBatch>, QueryError> {
    batches
        .into_iter()
        .map(|b| {
            let columns =
                schema.fields().iter().map(|f| column(&b, f.name(), f.data_type())).collect::<Result<Vec<_>, _>>()?;
            RecordBatch::try_new(schema.clone(), columns).map_err(sql_error)
        })
        .collect()
}

/// The cells of a batch with a cell's columns (`year`, `level`, `rhf`, `hf`, `breakdown`,
/// `numerator`, `denominator`, `value`, `ci_low`, `ci_high`, and where present `suppressed`), the
/// indicator (id, unit) of row `i` being `indicator(i)`.
pub(crate) fn read_cells(
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

/// The cells as `indicator_values`, sorted, with the figures of suppressed cells withheld (the
/// denominator stays unless its count is hidden).
fn cells_batch(cells: &[Cell]) -> Result<RecordBatch, QueryError> {
    #[derive(Serialize)]
    struct Row<'a> {
        indicator: &'a str,
        year: i32,
        period: &'a str,
        level: &'a str,
        rhf: Option<&'a str>,
        hf: Option<&'a str>,
        breakdown: &'a str,
        numerator: Option<i64>,
        denominator: Option<f64>,
        value: Option<f64>,
        ci_low: Option<f64>,
        ci_high: Option<f64>,
        ci99_low: Option<f64>,
        ci99_high: Option<f64>,
        suppressed: bool,
        suppression_reason: Option<&'static str>,
        compared: Option<&'static str>,
        coverage: Option<f64>,
        target: Option<&'static str>,
    }
    let mut order: Vec<&Cell> = cells.iter().collect();
    order.sort_by(|a, b| a.key().cmp(&b.key()));
    let rows: Vec<Row> = order
        .into_iter()
        .map(|c| {
            let shown = |v: Option<f64>| if c.suppressed { None } else { v };
            Row {
                indicator: &c.indicator,
                year: c.year,
                period: &c.period,
                level: c.level.as_str(),
                rhf: c.rhf.as_deref(),
                hf: c.hf.as_deref(),
                breakdown: &c.breakdown,
                numerator: if c.suppressed { None } else { Some(c.numerator) },
                denominator: if c.denominator_suppressed { None } else { c.denominator },
                value: shown(c.value),
                ci_low: shown(c.ci_low),
                ci_high: shown(c.ci_high),
                ci99_low: shown(c.ci99_low),
                ci99_high: shown(c.ci99_high),
                suppressed: c.suppressed,
                // Served: `disclosure` or `coverage`, never the finer reason.
                suppression_reason: c.reason.filter(|_| c.suppressed).map(|r| r.served().as_str()),
                // Never beside a hidden cell, whatever was computed.
                compared: c.compared.filter(|_| !c.suppressed).map(Compared::as_str),
                coverage: c.coverage,
                target: c.target.filter(|_| !c.suppressed).map(crate::target::Standing::as_str),
            }
        })
        .collect();
    let schema = indicator_values_schema();
    let batches = json_batches(schema.clone(), &rows)?;
    datafusion::arrow::compute::concat_batches(&schema, &batches).map_err(sql_error)
}

/// The cells as [`DISCLOSURE`] rows, sorted, with every figure.
fn disclosure_batch(cells: &[Cell]) -> Result<RecordBatch, QueryError> {
    #[derive(Serialize)]
    struct Row<'a> {
        indicator: &'a str,
        year: i32,
        period: &'a str,
        level: &'a str,
        rhf: Option<&'a str>,
        hf: Option<&'a str>,
        breakdown: &'a str,
        numerator: Option<i64>,
        denominator: Option<f64>,
        value: Option<f64>,
        ci_low: Option<f64>,
        ci_high: Option<f64>,
        ci99_low: Option<f64>,
        ci99_high: Option<f64>,
        suppressed: bool,
        denominator_suppressed: bool,
        reason: Option<&'static str>,
        coverage: Option<f64>,
    }
    let mut order: Vec<&Cell> = cells.iter().collect();
    order.sort_by(|a, b| a.key().cmp(&b.key()));
    let rows: Vec<Row> = order
        .into_iter()
        .map(|c| Row {
            indicator: &c.indicator,
            year: c.year,
            period: &c.period,
            level: c.level.as_str(),
            rhf: c.rhf.as_deref(),
            hf: c.hf.as_deref(),
            breakdown: &c.breakdown,
            numerator: Some(c.numerator),
            denominator: c.denominator,
            value: c.value,
            ci_low: c.ci_low,
            ci_high: c.ci_high,
            ci99_low: c.ci99_low,
            ci99_high: c.ci99_high,
            suppressed: c.suppressed,
            denominator_suppressed: c.denominator_suppressed,
            reason: c.reason.filter(|_| c.suppressed).map(Reason::as_str),
            coverage: c.coverage,
        })
        .collect();
    let schema = disclosure_schema();
    let batches = json_batches(schema.clone(), &rows)?;
    datafusion::arrow::compute::concat_batches(&schema, &batches).map_err(sql_error)
}

/// `data_quality` of the lake at `snapshot`.
/// `reused`: the residence counts of coding periods taken from the publication replaced (the build's
/// coding table holds only the years rebuilt).
async fn data_quality(
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
        if d.status == "rejected" {
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
            Some(crate::suppress::Served::Disclosure) => n[1] += 1,
            Some(crate::suppress::Served::Coverage) => n[2] += 1,
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
fn rows_loaded(snapshot: &Snapshot) -> Vec<crate::relations::RowsLoaded> {
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
fn withhold_by_coverage(cells: &mut [Cell], catalogue: &[Indicator], coverage: &Coverage, min_coverage: f64) -> usize {
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

/// Builds the published tables into every ETL commit.
#[derive(Clone, Debug)]
pub struct IndicatorPublisher {
    /// The lake's URL (as the ETL opened it), for DataFusion to read its files.
    pub lake_url: String,
    /// The disclosure-control threshold (`[suppression] min_count`).
    pub min_count: i64,
    /// [`BuildOptions::memory_limit`] (`[publish] memory_limit_mib`).
    pub memory_limit: Option<usize>,
    /// Rebuild every year (`lms etl publish --full`); else a commit rebuilds the years its data
    /// touches where the tables it replaces were built by the same definitions (`crate::incremental`).
    pub full: bool,
    /// [`BuildOptions::session`]: build on a distributed engine (`lms-ballista publish`).
    pub session: Option<BuildSession>,
    /// [`BuildOptions::min_coverage`].
    pub min_coverage: f64,
    /// [`BuildOptions::targets`] (`[[target]]` of lms.toml).
    pub targets: Vec<crate::target::Target>,
}

impl IndicatorPublisher {
    pub fn new(lake_url: &str, min_count: i64) -> IndicatorPublisher {
        IndicatorPublisher {
            lake_url: lake_url.to_string(),
            min_count,
            memory_limit: Some(BUILD_MEMORY_LIMIT),
            full: false,
            session: None,
            min_coverage: MIN_COVERAGE,
            targets: Vec::new(),
        }
    }
}

#[async_trait::async_trait]
impl lms_lake::Publish for IndicatorPublisher {
    fn tables(&self) -> &[&str] {
        &WRITTEN
    }

    fn fingerprint(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for text in [PRELUDE, STANDARDISE, VARIATION] {
            h.update(text.as_bytes());
        }
        for i in catalogue::embedded() {
            h.update(i.file.as_bytes());
            h.update(i.sql.as_bytes());
        }
        h.update(self.min_count.to_le_bytes());
        h.update(self.min_coverage.to_le_bytes());
        h.update(DISCLOSURE_CONTROL.as_bytes());
        // Targets are part of what is published (`target` on the cells).
        h.update(serde_json::to_string(&self.targets).unwrap_or_default().as_bytes());
        format!(
            "min_count={};min_coverage={};sql={};reference={}",
            self.min_count,
            self.min_coverage,
            hex::encode(&h.finalize()[..8]),
            reference_version()
        )
    }

    async fn publish(&self, lake: &Lake, next: &Snapshot, run_id: &str) -> Result<Publication, LakeError> {
        let built = build(
            &self.lake_url,
            lake,
            next,
            &BuildOptions {
                min_count: self.min_count,
                reference: &[],
                memory_limit: self.memory_limit,
                target_partitions: None,
                // The tables in `next` are those of the commit before: reusable if built by these
                // definitions (min_count, SQL and reference data are all in the fingerprint).
                reuse: !self.full && next.published.as_deref() == Some(self.fingerprint().as_str()),
                session: self.session.clone(),
                min_coverage: self.min_coverage,
                targets: &self.targets,
            },
        )
        .await
        .map_err(|e| LakeError::Publish(e.to_string()))?;
        let years = |years: &Option<BTreeSet<i32>>| match years {
            Some(years) if years.is_empty() => "none".to_string(),
            Some(years) => years.iter().map(i32::to_string).collect::<Vec<_>>().join(","),
            None => "all".into(),
        };
        tracing::info!(
            version = next.version,
            rebuilt_years = %years(&built.rebuilt),
            evaluation_years = %years(&built.evaluation_years),
            cells = built.cells.len(),
            hidden = built.suppression.disclosure(),
            primary = built.suppression.primary,
            secondary = built.suppression.secondary,
            checked = built.suppression.checked,
            digest = %built.digest,
            "indicators built"
        );
        let mut files = Vec::new();
        let written = published_schemas().into_iter().chain([(DISCLOSURE, disclosure_schema())]);
        for ((table, schema), batches) in written.zip([
            &built.indicator_values,
            &built.variation,
            &built.data_quality,
            &built.funnel,
            &built.disclosure,
        ]) {
            let path = format!("published/{table}/v{:06}-{run_id}.parquet", next.version);
            // The basis rides with data_quality, which is outside the digest (the figures' files
            // stay the bytes a full build writes).
            let basis = match (&built.basis, table) {
                (Some(b), "data_quality") => {
                    Some(serde_json::to_string(b).map_err(|e| LakeError::Publish(e.to_string()))?)
                }
                _ => None,
            };
            let metadata: Vec<(&str, &str)> = basis.iter().map(|b| (incremental::BASIS_KEY, b.as_str())).collect();
            match lms_lake::write::write_file(lake, table, &path, schema, batches, &metadata).await {
                Ok(f) => files.push(f),
                Err(e) => {
                    let written: Vec<String> = files.iter().map(|f: &DataFile| f.path.clone()).collect();
                    lake.delete_uncommitted(&written).await;
                    return Err(e);
                }
            }
        }
        Ok(Publication { files, digest: built.digest })
    }
}

/// The version of the embedded reference data (regions, trusts, areas, population, ICD-10 groups,
/// the municipality code history): [`reference_version_of`] their CSV texts. Part of the
/// publisher's fingerprint, so new reference data republishes.
pub fn reference_version() -> String {
    reference_version_of(&lms_schemas::reference::TABLES)
}

/// The first 8 bytes, in hex, of the SHA-256 of (name, CSV text) pairs, each length-prefixed so
/// that no two different sets of tables hash alike by moving text from one to the next.
pub fn reference_version_of(tables: &[(&str, &str)]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for (name, csv) in tables {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((csv.len() as u64).to_le_bytes());
        h.update(csv.as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}
