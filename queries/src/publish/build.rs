//! The build of one publication: scope, compute, protect, compare, and the tables.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int32Type};
use lms_lake::{Lake, Snapshot};
use lms_schemas::ExtractKind;

use super::compute::{compute, keep_on_disk, prepare, strata_schema, windows};
use super::digest::{DIGESTED, content_digest};
use super::options::{BuildOptions, build_session};
use super::quality::{coverage, data_quality, rows_loaded, withhold_by_coverage};
use super::rows::{cells_batch, disclosure_batch};
use super::sql::{PRELUDE, VARIATION};
use crate::batch::{collect, column, conform};
use crate::catalogue;
use crate::cell::Cell;
use crate::compare;
use crate::error::{QueryError, sql_error};
use crate::incremental::{self, Reads, Reused};
use crate::keep::Keep;
use crate::suppress::Suppression;
use crate::tables::{TrendRow, indicator_values_schema, variation_schema};
use crate::warehouse::{Access, Warehouse};

/// The published tables of one lake version.
#[derive(Debug)]
pub struct Published {
    pub indicator_values: Vec<RecordBatch>,
    pub variation: Vec<RecordBatch>,
    pub data_quality: Vec<RecordBatch>,
    /// The funnel limits of the share indicators (`crate::funnel`), from the shown cells.
    pub funnel: Vec<RecordBatch>,
    /// The recent trend of every share and standardised rate series (`crate::trend`), from the
    /// shown cells.
    pub trend: Vec<RecordBatch>,
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

/// Builds the published tables of the lake at `snapshot`.
pub async fn build(lake: &Lake, snapshot: &Snapshot, options: &BuildOptions) -> Result<Published, QueryError> {
    match build_within(lake, snapshot, options).await {
        // A pool too small for one operator's batch fails the build, and a failed build commits
        // nothing: the load that came with it would wait for an operator. Better to be over the
        // limit once, and say so.
        Err(e) if options.memory_limit.is_some() && e.to_string().contains("Resources exhausted") => {
            tracing::warn!(
                limit_mib = options.memory_limit.unwrap_or_default() >> 20,
                error = %e,
                "the published tables did not fit the build's memory limit; building them again without one"
            );
            build_within(lake, snapshot, &BuildOptions { memory_limit: None, ..options.clone() }).await
        }
        built => built,
    }
}

/// What an incremental build computes again and what it takes from the publication it replaces
/// (`crate::incremental`); a full build has no years to keep.
struct Scope {
    /// [`incremental::basis`] of the snapshot built.
    basis: Option<incremental::Basis>,
    /// The basis of the publication in the snapshot, where it may stand in for the unchanged years.
    before: Option<incremental::Basis>,
    /// The years whose coding and activity files changed: the year-local indicators' years.
    rebuilt: Option<BTreeSet<i32>>,
    /// The pooled windows of the lake.
    windows: BTreeSet<i32>,
    /// In an incremental build, the windows holding a rebuilt year: those are computed again.
    pooled: Option<BTreeSet<i32>>,
    /// The lake with only the files of the years read, in an incremental build.
    scoped: Option<Snapshot>,
}

impl Scope {
    async fn plan(lake: &Lake, snapshot: &Snapshot, options: &BuildOptions, reads: &Reads) -> Scope {
        let basis = incremental::basis(snapshot);
        let before = match (&basis, options.reuse && reads.allow_scoping(catalogue::embedded())) {
            (Some(_), true) => incremental::recorded_basis(lake, snapshot).await,
            _ => None,
        };
        let rebuilt = match (&before, &basis) {
            (Some(before), Some(now)) => Some(incremental::changed_years(before, now)),
            _ => None,
        };
        let windows = windows(snapshot);
        let pooled: Option<BTreeSet<i32>> = rebuilt.as_ref().map(|years| {
            windows.iter().copied().filter(|m| years.iter().any(|y| (m - 1..=m + 1).contains(y))).collect()
        });
        // The coding of a computed window's three years is read too.
        let scoped = rebuilt.as_ref().map(|years| {
            let mut read: BTreeSet<i32> = years.clone();
            read.extend(pooled.as_ref().unwrap_or(&windows).iter().flat_map(|m| [m - 1, *m, m + 1]));
            incremental::scoped(snapshot, &read)
        });
        Scope { basis, before, rebuilt, windows, pooled, scoped }
    }

    /// The pooled windows computed.
    fn computed_windows(&self) -> &BTreeSet<i32> {
        self.pooled.as_ref().unwrap_or(&self.windows)
    }

    /// The lake the build's session reads.
    fn tables<'a>(&'a self, snapshot: &'a Snapshot) -> &'a Snapshot {
        self.scoped.as_ref().unwrap_or(snapshot)
    }

    /// The evaluation files added since the publication replaced, where it is reused.
    fn added_evaluations(&self) -> Option<Vec<String>> {
        match (&self.before, &self.basis) {
            (Some(before), Some(now)) => incremental::added_evaluations(before, now),
            _ => None,
        }
    }
}

/// The years each indicator's cells are computed for, where not all.
struct Kept<'a> {
    by_indicator: BTreeMap<&'a str, &'a BTreeSet<i32>>,
    pooled: Option<&'a BTreeSet<i32>>,
}

impl Kept<'_> {
    /// A single year's cell is kept where its year is computed, a pooled window's where the window
    /// holds a rebuilt year.
    fn kept(&self, indicator: &str, year: i32, period: &str) -> bool {
        if period.len() > 4 {
            self.pooled.is_none_or(|windows| windows.contains(&year))
        } else {
            self.by_indicator.get(indicator).is_none_or(|years| years.contains(&year))
        }
    }
}

/// [`build`] without its second chance: fails where the build does not fit
/// [`BuildOptions::memory_limit`].
pub async fn build_within(lake: &Lake, snapshot: &Snapshot, options: &BuildOptions) -> Result<Published, QueryError> {
    let min_count = options.min_count;
    let catalogue = catalogue::embedded();
    let reads = Reads::of(PRELUDE);
    let scope = Scope::plan(lake, snapshot, options, &reads).await;
    let computed_windows = scope.computed_windows();
    let session = build_session(options)?;
    let scratch = tempfile::tempdir().map_err(|e| QueryError::Sql(format!("a temporary directory: {e}")))?;
    let keep = match options.session {
        Some(_) => Keep::files(scratch.path().join("tables"))?,
        None => Keep::Memory,
    };
    let reference: Vec<(&str, &str)> = options.reference.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let tables = scope.tables(snapshot);
    let warehouse = Warehouse::in_session(session, lake, tables, Access::Warehouse, &reference, Arc::new(keep)).await?;
    let ctx = warehouse.context();
    let keep = warehouse.keep();
    // Every evaluation row stays readable as `evaluation_all` (data quality's dangling responses);
    // `evaluation` is what the evaluation indicators read: all of it, or the rows of the
    // respondents of the years to compute.
    let evaluations = ctx.table_provider("evaluation").await.map_err(sql_error)?;
    ctx.register_table("evaluation_all", evaluations).map_err(sql_error)?;
    let evaluation_years = match (scope.added_evaluations(), &scope.rebuilt) {
        (Some(added), Some(rebuilt)) => {
            warehouse.register_extract_files(lake, "evaluation_added", ExtractKind::Evaluation, added).await?;
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
    let mut by_indicator: BTreeMap<&str, &BTreeSet<i32>> = BTreeMap::new();
    for i in catalogue {
        let years = if reads.year_local(i) {
            scope.rebuilt.as_ref()
        } else if reads.of_evaluations(i) {
            evaluation_years.as_ref()
        } else {
            None
        };
        if let Some(years) = years {
            by_indicator.insert(&i.id, years);
        }
    }
    let reused = match (&scope.rebuilt, &scope.pooled) {
        (Some(years), Some(pooled)) => Reused::read(ctx, catalogue, &by_indicator, pooled, years).await?,
        _ => Reused::default(),
    };
    let kept = Kept { by_indicator, pooled: scope.pooled.as_ref() };
    prepare(ctx, scratch.path(), keep).await?;
    let mut cells = Vec::new();
    let mut strata = Vec::new();
    for indicator in catalogue {
        let started = std::time::Instant::now();
        let (mut c, s) = compute(ctx, keep, indicator, computed_windows).await?;
        // The cells of the years not computed are read from tables without those years' rows:
        // the published ones stand in for them.
        c.retain(|c| kept.kept(&c.indicator, c.year, &c.period));
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
    crate::target::apply(&mut all, &options.targets);
    let cells = all[..computed].to_vec();
    // Funnels from the shown cells of every year (computed or reused): a function of them.
    let funnel = vec![crate::funnel::funnel_batch(&crate::funnel::funnel(&all, catalogue))?];
    // Recent trends from the shown cells of every year (computed or reused).
    let trend = vec![TrendRow::to_batch(&crate::trend::trends(&all, catalogue, &options.targets))?];
    let disclosure = vec![disclosure_batch(&all)?];
    let indicator_values = vec![cells_batch(&all)?];

    keep.table(ctx, "indicator_values", indicator_values_schema(), indicator_values.clone()).await?;
    let strata_schema = strata.first().map(|b| b.schema()).unwrap_or_else(strata_schema);
    keep.table(ctx, "strata", strata_schema, strata).await?;
    let started = std::time::Instant::now();
    let mut variation = conform(collect(ctx, VARIATION).await?, variation_schema())?;
    if scope.rebuilt.is_some() {
        variation = keep_rows(variation, |indicator, year, period| kept.kept(indicator, year, period))?;
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
        trend,
        disclosure,
        cells,
        suppression,
        digest,
        rebuilt: scope.rebuilt,
        evaluation_years,
        basis: scope.basis,
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
