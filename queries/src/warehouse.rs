//! The lake as SQL tables (see the crate's documentation): a read-only session over one version.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use lms_lake::{Lake, Snapshot};
use lms_schemas::ExtractKind;

use crate::batch::{json_batches, u64f, utf8};
use crate::error::{QueryError, sql_error};
use crate::keep;
use crate::tables;

/// The tables a statement names (after its CTEs are taken out), lower-cased as the session resolves
/// them, sorted, each once: what the access log records. Syntax only, so it costs a parse and names
/// a table the session does not have too; a statement that does not parse names none.
pub fn tables_read(statement: &str) -> Vec<String> {
    use datafusion::sql::parser::DFParser;
    let Ok(statements) = DFParser::parse_sql(statement) else { return Vec::new() };
    let mut out: Vec<String> = statements
        .iter()
        .filter_map(|s| datafusion::sql::resolve::resolve_table_references(s, true).ok())
        .flat_map(|(tables, _ctes)| tables.into_iter().map(|t| t.table().to_string()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Which tables a session sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reference data and the published indicator tables: what may leave the host.
    Published,
    /// Also the person-level tables (`activity`, `coding`, `evaluation`, `quarantine`), run history
    /// (`runs`) and delivery state (`deliveries`): the CLI on the warehouse host.
    Warehouse,
}

/// Memory a query of an [`Access::Published`] session may use (sorts and joins beyond it fail).
pub const PUBLISHED_MEMORY_LIMIT: usize = 1 << 30;

/// Tables with person-level rows: never served over HTTP. (The warehouse's record of disclosure
/// control, `disclosure`, holds no person but the figures of hidden cells: it is never served
/// either, and like these is registered only in [`Access::Warehouse`] sessions.)
pub const PERSON_LEVEL: [&str; 4] = ["activity", "coding", "evaluation", "quarantine"];

/// A read-only SQL session over one version of the lake.
pub struct Warehouse {
    ctx: SessionContext,
    version: u64,
    keep: Arc<keep::Keep>,
}

impl std::fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Warehouse(version {})", self.version)
    }
}

/// Lets DataFusion read the lake's files by their URLs: an S3 lake's own store is registered under
/// its bucket's URL (local files DataFusion reads without one).
fn register_lake_store(ctx: &SessionContext, lake: &Lake) -> Result<(), QueryError> {
    if let lms_lake::Location::S3 { .. } = lake.location() {
        let url = url::Url::parse(&lake.location().store_url()).map_err(|e| QueryError::Lake(e.to_string()))?;
        ctx.register_object_store(&url, lake.store().clone());
    }
    Ok(())
}

impl Warehouse {
    /// Opens the newest version of `lake`.
    pub async fn open(lake: &Lake, access: Access) -> Result<Warehouse, QueryError> {
        let snapshot = lake.snapshot().await.map_err(|e| QueryError::Lake(e.to_string()))?;
        Self::at(lake, &snapshot, access).await
    }

    /// Opens `lake` as `snapshot` shows it (which may be a version about to be committed, when the
    /// published tables are built for it).
    pub async fn at(lake: &Lake, snapshot: &Snapshot, access: Access) -> Result<Warehouse, QueryError> {
        let ctx = match access {
            // Sessions that serve others (HTTP) get a memory budget: a query over it fails, the
            // server does not.
            Access::Published => {
                let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
                    .with_memory_limit(PUBLISHED_MEMORY_LIMIT, 1.0)
                    .build_arc()
                    .map_err(sql_error)?;
                SessionContext::new_with_config_rt(datafusion::prelude::SessionConfig::new(), runtime)
            }
            Access::Warehouse => SessionContext::new(),
        };
        Self::in_session(ctx, lake, snapshot, access, &[], Arc::new(keep::Keep::Memory)).await
    }

    /// As [`Warehouse::at`], in a session the caller configured (the build of the published
    /// tables runs in one with its own memory pool and join order), with some reference tables
    /// replaced: (name, CSV text) pairs, and the tables it makes itself kept as `keep` says.
    pub(crate) async fn in_session(
        ctx: SessionContext,
        lake: &Lake,
        snapshot: &Snapshot,
        access: Access,
        reference: &[(&str, &str)],
        keep: Arc<keep::Keep>,
    ) -> Result<Warehouse, QueryError> {
        register_lake_store(&ctx, lake)?;
        let urls = lake.location();
        // Every file the snapshot reads must be there: a query engine would read a missing one as
        // an empty table, a silently wrong answer (a version retention let go, a lost file).
        let mut tables: Vec<&str> = tables::published_schemas().into_iter().map(|(name, _)| name).collect();
        if access == Access::Warehouse {
            tables.push(tables::DISCLOSURE);
            tables.extend(ExtractKind::ALL.iter().map(|k| k.name()));
            tables.push("quarantine");
        }
        let files: Vec<&str> = tables.iter().flat_map(|t| snapshot.table_files(t)).map(|f| f.path.as_str()).collect();
        ensure_present(lake, snapshot.version, &files).await?;
        register_reference(&ctx, reference, &keep).await?;
        keep.table(&ctx, "legend", legend_schema(), vec![legend_batch()?]).await?;
        for (name, schema) in tables::published_schemas() {
            let files = snapshot.table_files(name).map(|f| f.path.clone()).collect();
            register_files(&ctx, name, schema, files, urls, &keep).await?;
        }
        // A view, so its figures are as of the query (it reads `now()`).
        ctx.sql(include_str!("../sql/freshness.sql")).await.map_err(sql_error)?.collect().await.map_err(sql_error)?;
        if access == Access::Warehouse {
            let files = snapshot.table_files(tables::DISCLOSURE).map(|f| f.path.clone()).collect();
            register_files(&ctx, tables::DISCLOSURE, tables::disclosure_schema(), files, urls, &keep).await?;
            for kind in ExtractKind::ALL {
                let files = snapshot.table_files(kind.name()).map(|f| f.path.clone()).collect();
                register_files(&ctx, kind.name(), with_string_views(&kind.lake_schema()), files, urls, &keep).await?;
            }
            let files = snapshot.table_files("quarantine").map(|f| f.path.clone()).collect();
            register_files(&ctx, "quarantine", lms_schemas::contract::quarantine_schema(), files, urls, &keep).await?;
            let runs = lake.runs().await.map_err(|e| QueryError::Lake(e.to_string()))?;
            keep.table(&ctx, "runs", runs_schema(), json_batches(runs_schema(), &runs)?).await?;
            let deliveries = json_batches(deliveries_schema(), &snapshot.deliveries)?;
            keep.table(&ctx, "deliveries", deliveries_schema(), deliveries).await?;
        }
        Ok(Warehouse { ctx, version: snapshot.version, keep })
    }

    /// Registers data files of the extract `kind` (paths relative to the lake root) as the table
    /// `name`, for the build.
    pub(crate) async fn register_extract_files(
        &self,
        lake: &Lake,
        name: &str,
        kind: ExtractKind,
        files: Vec<String>,
    ) -> Result<(), QueryError> {
        register_files(&self.ctx, name, with_string_views(&kind.lake_schema()), files, lake.location(), &self.keep)
            .await
    }

    /// The lake version this session reads.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Runs one read-only statement.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        self.plan(sql).await?.collect().await.map_err(sql_error)
    }

    /// Plans one read-only statement: DDL, DML and other statements are refused.
    pub async fn plan(&self, sql: &str) -> Result<datafusion::dataframe::DataFrame, QueryError> {
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        self.ctx.sql_with_options(sql, options).await.map_err(|e| {
            let text = e.to_string();
            if text.contains("not supported")
                && (text.contains("DDL") || text.contains("DML") || text.contains("Statement"))
            {
                QueryError::ReadOnly(format!("only queries are allowed ({text})"))
            } else {
                sql_error(text)
            }
        })
    }

    /// The underlying session, for the indicator builders of this crate.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Where the tables this session makes itself are kept.
    pub(crate) fn keep(&self) -> &keep::Keep {
        &self.keep
    }
}

/// `schema` with its text columns (and lists of text) read as string views: the Parquet reader then
/// points into the pages' dictionaries instead of copying every value, which is most of the cost of
/// scanning the extracts' low-cardinality codes.
fn with_string_views(schema: &Schema) -> SchemaRef {
    fn view(t: &DataType) -> DataType {
        match t {
            DataType::Utf8 => DataType::Utf8View,
            DataType::List(f) => DataType::List(Arc::new(f.as_ref().clone().with_data_type(view(f.data_type())))),
            other => other.clone(),
        }
    }
    let fields: Vec<Field> =
        schema.fields().iter().map(|f| f.as_ref().clone().with_data_type(view(f.data_type()))).collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Fails, naming the first, when any of `files` is not in the lake's store.
async fn ensure_present(lake: &Lake, version: u64, files: &[&str]) -> Result<(), QueryError> {
    use futures::StreamExt;
    use object_store::ObjectStoreExt;
    // Owned, so the stream's futures borrow nothing (the publish hook's future must be `Send`).
    let store = lake.store().clone();
    let wanted: Vec<(String, object_store::path::Path)> = files.iter().map(|f| (f.to_string(), lake.path(f))).collect();
    let mut heads = futures::stream::iter(wanted.into_iter().map(move |(f, path)| {
        let store = store.clone();
        async move {
            match store.head(&path).await {
                Ok(_) => Ok(()),
                Err(object_store::Error::NotFound { .. }) => Err(QueryError::Lake(format!(
                    "version {version} reads {f}, which is no longer in the lake (a version retention let go, \
                     `[retention] snapshots_days`, or a lost file)"
                ))),
                Err(e) => Err(QueryError::Lake(format!("{f}: {e}"))),
            }
        }
    }))
    .buffer_unordered(32);
    while let Some(r) = heads.next().await {
        r?;
    }
    Ok(())
}

pub(crate) async fn register_files(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    files: Vec<String>,
    urls: &lms_lake::Location,
    keep: &keep::Keep,
) -> Result<(), QueryError> {
    if files.is_empty() {
        return keep.table(ctx, name, schema, vec![]).await;
    }
    let paths = files
        .iter()
        .map(|f| ListingTableUrl::parse(urls.file_url(f)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_error)?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(paths).with_listing_options(options).with_schema(schema);
    let table = ListingTable::try_new(config).map_err(sql_error)?;
    ctx.register_table(name, Arc::new(table)).map_err(sql_error)?;
    Ok(())
}

fn time(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

/// `runs`: one row per source and pass.
fn runs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("run_id", false),
        utf8("source", false),
        time("started_at"),
        time("ended_at"),
        utf8("status", false),
        u64f("version", true),
        u64f("files", false),
        u64f("files_rejected", false),
        u64f("rows_read", false),
        u64f("rows_loaded", false),
        u64f("rows_rejected", false),
        utf8("rejected_by_rule", false),
        utf8("error", true),
    ]))
}

/// `deliveries`: one row per delivery processed.
fn deliveries_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("source", false),
        utf8("file", false),
        utf8("sha256", false),
        u64f("size", false),
        utf8("rhf", true),
        utf8("extract", true),
        utf8("period", true),
        Field::new("version", DataType::UInt32, true),
        utf8("status", false),
        u64f("rows_read", false),
        u64f("rows_loaded", false),
        u64f("rows_rejected", false),
        utf8("rejected_by_rule", false),
        utf8("rule", true),
        utf8("message", true),
        utf8("unknown_columns", false),
        utf8("run_id", false),
        time("processed_at"),
        utf8("data_files", false),
    ]))
}

fn legend_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![utf8("reason", false), utf8("text_nb", false), utf8("text_en", false)]))
}

/// `legend`: why a cell can be hidden, in bokmål and English ([`suppress::LEGEND`]).
fn legend_batch() -> Result<RecordBatch, QueryError> {
    use datafusion::arrow::array::StringArray;
    let column = |f: fn(&(crate::cell::Served, &'static str, &'static str)) -> &'static str| {
        Arc::new(crate::cell::LEGEND.iter().map(f).map(Some).collect::<StringArray>()) as _
    };
    RecordBatch::try_new(legend_schema(), vec![column(|l| l.0.as_str()), column(|l| l.1), column(|l| l.2)])
        .map_err(sql_error)
}

/// The reference tables, all columns as text but counts and years (codes keep their leading zeros).
async fn register_reference(
    ctx: &SessionContext,
    replaced: &[(&str, &str)],
    keep: &keep::Keep,
) -> Result<(), QueryError> {
    for (name, embedded) in lms_schemas::reference::TABLES {
        let csv = replaced.iter().find(|(n, _)| *n == name).map_or(embedded, |(_, text)| *text);
        let header: Vec<&str> = csv.lines().next().unwrap_or_default().split(',').collect();
        let fields: Vec<Field> = header
            .iter()
            .map(|c| match (name, *c) {
                ("population", "year") => Field::new(*c, DataType::Int32, false),
                ("population", "population") => Field::new(*c, DataType::Int64, false),
                ("areas", "size_class") => Field::new(*c, DataType::Int32, false),
                ("areas", "sami_area") => Field::new(*c, DataType::Boolean, false),
                _ => Field::new(*c, DataType::Utf8, true),
            })
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let reader = datafusion::arrow::csv::ReaderBuilder::new(schema.clone())
            .with_header(true)
            .build(std::io::Cursor::new(csv.as_bytes()))
            .map_err(sql_error)?;
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(sql_error)?;
        keep.table(ctx, name, schema, batches).await?;
    }
    Ok(())
}
