//! Where a session keeps the tables it makes itself: the reference data, empty tables, and a
//! build's intermediate results (materialised views, the cells and strata that `variation` reads).
//!
//! A session that runs its plans in this process keeps them in memory. A session whose plans run
//! elsewhere — Ballista's executors — cannot: a plan sent to an executor names its tables by their
//! files, and a table held in this process's memory has none. Such a session keeps every table it
//! makes as a Parquet file, in a directory its executors read.
//!
//! Invariant: whichever is used, a table holds the same rows with the same schema, so a build's
//! published tables are the same to the bit.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;

use crate::error::{QueryError, sql_error};

/// See the module's documentation.
#[derive(Debug)]
pub(crate) enum Keep {
    /// In memory (`MemTable`).
    Memory,
    /// As Parquet files in a directory, each written once under a name of its own (a table
    /// registered again gets a new file: no reader can see a file change under it).
    Files { dir: PathBuf, written: AtomicU64 },
}

impl Keep {
    pub(crate) fn files(dir: PathBuf) -> Result<Keep, QueryError> {
        std::fs::create_dir_all(&dir).map_err(|e| QueryError::Sql(format!("{}: {e}", dir.display())))?;
        Ok(Keep::Files { dir, written: AtomicU64::new(0) })
    }

    /// Registers `batches` (of `schema`) as the table `name`, replacing any table of that name.
    pub(crate) async fn table(
        &self,
        ctx: &SessionContext,
        name: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<(), QueryError> {
        // The batches' own schema where there are batches: a plan's schema may differ in nullability.
        let schema = batches.first().map(|b| b.schema()).unwrap_or(schema);
        match self {
            Keep::Memory => {
                ctx.deregister_table(name).map_err(sql_error)?;
                let table = MemTable::try_new(schema, vec![batches])
                    .map_err(|e| QueryError::Sql(format!("table {name}: {e}")))?;
                ctx.register_table(name, Arc::new(table)).map_err(sql_error)?;
                Ok(())
            }
            Keep::Files { .. } => {
                let path = self.next_path(name)?;
                let mut writer = writer(&path, schema.clone())?;
                for b in &batches {
                    writer.write(b).map_err(|e| QueryError::Sql(format!("table {name}: {e}")))?;
                }
                writer.close().map_err(|e| QueryError::Sql(format!("table {name}: {e}")))?;
                register_file(ctx, name, &path, &schema).await
            }
        }
    }

    /// Evaluates the view `name` once and puts the result in its place: in memory, or streamed
    /// into a file (so the result is never held whole in this process).
    pub(crate) async fn view(&self, ctx: &SessionContext, name: &str) -> Result<(), QueryError> {
        let view = ctx.table(name).await.map_err(sql_error)?;
        match self {
            Keep::Memory => {
                let cached = view.cache().await.map_err(sql_error)?;
                ctx.deregister_table(name).map_err(sql_error)?;
                ctx.register_table(name, cached.into_view()).map_err(sql_error)?;
                Ok(())
            }
            Keep::Files { .. } => {
                let path = self.next_path(name)?;
                let schema = stream_to_file(view, &path).await?;
                register_file(ctx, name, &path, &schema).await
            }
        }
    }

    fn next_path(&self, name: &str) -> Result<PathBuf, QueryError> {
        match self {
            Keep::Memory => Err(QueryError::Sql(format!("table {name}: kept in memory, not in a file"))),
            Keep::Files { dir, written } => {
                let n = written.fetch_add(1, Ordering::Relaxed);
                Ok(dir.join(format!("{name}-{n:04}.parquet")))
            }
        }
    }
}

/// A scratch file: read once or twice, on this host or its executors, so not compressed.
fn writer(path: &std::path::Path, schema: SchemaRef) -> Result<ArrowWriter<std::fs::File>, QueryError> {
    let file = std::fs::File::create(path).map_err(|e| QueryError::Sql(format!("{}: {e}", path.display())))?;
    let props = datafusion::parquet::file::properties::WriterProperties::builder()
        .set_compression(datafusion::parquet::basic::Compression::UNCOMPRESSED)
        .set_max_row_group_row_count(Some(64 * 1024))
        .build();
    ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| QueryError::Sql(format!("{}: {e}", path.display())))
}

/// Runs `df` and writes its batches into a Parquet file at `path` as they arrive; returns the schema.
async fn stream_to_file(df: DataFrame, path: &std::path::Path) -> Result<SchemaRef, QueryError> {
    let mut stream = df.execute_stream().await.map_err(sql_error)?;
    let schema = stream.schema();
    let mut writer = writer(path, schema.clone())?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(sql_error)?;
        writer.write(&batch).map_err(|e| QueryError::Sql(format!("{}: {e}", path.display())))?;
    }
    writer.close().map_err(|e| QueryError::Sql(format!("{}: {e}", path.display())))?;
    Ok(schema)
}

async fn register_file(
    ctx: &SessionContext,
    name: &str,
    path: &std::path::Path,
    schema: &SchemaRef,
) -> Result<(), QueryError> {
    let path = path.to_str().ok_or_else(|| QueryError::Sql(format!("{}: not UTF-8", path.display())))?;
    ctx.deregister_table(name).map_err(sql_error)?;
    ctx.register_parquet(name, path, ParquetReadOptions::default().schema(schema)).await.map_err(sql_error)
}
