//! Writing data files: one Parquet file per call, under a fresh name, visible only once a commit
//! adds it.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};

use crate::error::LakeError;
use crate::{DataFile, Lake};

/// Rows per row group: readers prune and parallelise by row group, and four of the ETL's batches
/// of 65 536 rows keep a group's columns a few megabytes each.
pub const ROW_GROUP_ROWS: usize = 4 * 65_536;

/// zstd at `level` (1 to 22).
pub fn zstd(level: i32) -> Compression {
    Compression::ZSTD(ZstdLevel::try_new(level).expect("zstd level"))
}

/// The lake's Parquet settings: zstd level 3, row groups of [`ROW_GROUP_ROWS`]; writers of a table
/// with columns of their own (the extracts) refine them.
pub fn properties() -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(zstd(3))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_write_batch_size(8192)
}

/// One data file being written, streamed to the store as batches arrive.
pub struct FileWriter {
    writer: AsyncArrowWriter<BufWriter>,
    file: DataFile,
}

impl std::fmt::Debug for FileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWriter").field("file", &self.file).finish_non_exhaustive()
    }
}

impl FileWriter {
    /// A new file at `file.path` (relative to the lake root).
    pub fn new(
        lake: &Lake,
        file: DataFile,
        schema: SchemaRef,
        props: WriterProperties,
    ) -> Result<FileWriter, LakeError> {
        let object = BufWriter::new(lake.store().clone(), lake.path(&file.path));
        let writer = AsyncArrowWriter::try_new(object, schema, Some(props)).map_err(LakeError::parquet)?;
        Ok(FileWriter { writer, file })
    }

    /// The file being written.
    pub fn file(&self) -> &DataFile {
        &self.file
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), LakeError> {
        self.file.rows += batch.num_rows() as u64;
        self.writer.write(batch).await.map_err(LakeError::parquet)
    }

    /// The file as written, with its row count; `bytes` is 0 (callers that record it ask the store).
    pub async fn close(self) -> Result<DataFile, LakeError> {
        let mut file = self.file;
        self.writer.close().await.map_err(LakeError::parquet)?;
        file.bytes = 0;
        Ok(file)
    }
}

/// Writes `batches` as one new Parquet file at `path` (relative to the lake root) of `table`, not
/// yet committed: for tables derived from the data, such as the published indicator tables.
/// `metadata` goes into the file's key-value metadata (read back with [`key_value_metadata`]).
pub async fn write_file(
    lake: &Lake,
    table: &str,
    path: &str,
    schema: SchemaRef,
    batches: &[RecordBatch],
    metadata: &[(&str, &str)],
) -> Result<DataFile, LakeError> {
    let file = DataFile { path: path.into(), table: table.into(), rhf: None, period: None, rows: 0, bytes: 0 };
    let mut props = properties();
    if !metadata.is_empty() {
        let kv = metadata.iter().map(|(k, v)| KeyValue::new(k.to_string(), v.to_string())).collect();
        props = props.set_key_value_metadata(Some(kv));
    }
    let mut w = FileWriter::new(lake, file, schema, props.build())?;
    for b in batches {
        w.write(b).await?;
    }
    let mut file = w.close().await?;
    file.bytes = lake.store().head(&lake.path(&file.path)).await.map_err(LakeError::store)?.size;
    Ok(file)
}

/// The key-value metadata of the Parquet file at `path` (relative to the lake root). The whole file
/// is read: this is for small files (the published tables).
pub async fn key_value_metadata(
    lake: &Lake,
    path: &str,
) -> Result<std::collections::BTreeMap<String, String>, LakeError> {
    let bytes = lake.store().get(&lake.path(path)).await.map_err(LakeError::store)?.bytes().await;
    let bytes = bytes.map_err(LakeError::store)?;
    let metadata =
        parquet::file::metadata::ParquetMetaDataReader::new().parse_and_finish(&bytes).map_err(LakeError::parquet)?;
    let kv = metadata.file_metadata().key_value_metadata().into_iter().flatten();
    Ok(kv.filter_map(|e| Some((e.key.clone(), e.value.clone()?))).collect())
}
