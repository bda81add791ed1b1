//! Loading one delivery: check it (one streaming pass over the local copy where its ids do not
//! repeat, on a blocking thread), hand accepted rows and quarantined violations as Arrow batches
//! through a bounded channel to async Parquet writers (zstd) in the lake. Memory stays bounded by a
//! few batches (and 8 bytes a row for the ids).

use std::collections::BTreeMap;
use std::sync::Arc;

use lms_lake::write::{FileWriter, zstd};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Delivery, ExtractKind, Reference, RowEvent, check_delivery_in_one_pass, check_file_name};
use parquet::file::properties::WriterProperties;
use tokio::sync::mpsc;

use crate::batch::{BATCH_ROWS, QuarantineBatcher, QuarantineContext, RowBatcher, quarantine_schema};
use crate::error::EtlError;
use crate::lake::{DataFile, DeliveryRecord, Lake};
use crate::source::{Fetched, Listed, Source};

/// What loading a delivery gave: its record and the files written for it.
#[derive(Debug)]
pub struct Loaded {
    pub record: DeliveryRecord,
    /// The accepted rows (empty where none were accepted or the file was rejected).
    pub data: Vec<DataFile>,
    /// Quarantined violations and file rejections.
    pub quarantine: Vec<DataFile>,
}

enum Msg {
    Data(arrow_array::RecordBatch),
    Quarantine(arrow_array::RecordBatch),
    /// What was sent so far is void (the delivery repeats ids and is checked again).
    Restart,
}

/// A Parquet file being written to the lake.
/// Text columns of the extracts that keep min/max statistics: the keys readers prune files and row
/// groups by. Other text columns (codes, municipalities, free text) are mixed in every row group,
/// so their statistics prune nothing, and comparing every value for them took 3 % of a load.
const PRUNING_TEXT: [&str; 3] = ["rhf", "hf", "period"];

/// Columns of the extracts whose values (nearly) never repeat, with the encoding that suits each:
/// line numbers ascend (deltas), ids share long prefixes (prefix deltas), pseudonyms are random but
/// all 32 characters long (lengths as deltas, the characters as they are).
fn unique_columns(kind: ExtractKind) -> [(&'static str, parquet::basic::Encoding); 3] {
    use parquet::basic::Encoding;
    [
        ("line", Encoding::DELTA_BINARY_PACKED),
        (kind.id_column(), Encoding::DELTA_BYTE_ARRAY),
        ("person", Encoding::DELTA_LENGTH_BYTE_ARRAY),
    ]
}

/// How a Parquet file is written: the lake's settings ([`lms_lake::write::properties`]). For extract files
/// (`kind`), unique columns get no dictionary (it would only be abandoned), a delta encoding, no
/// statistics (they would prune nothing) and zstd level 1 (level 3 finds no more to compress in
/// them, and takes longer); text columns other than [`PRUNING_TEXT`] get no statistics.
/// Measured in docs/benchmarks.md.
fn properties(schema: &arrow_schema::Schema, kind: Option<ExtractKind>) -> WriterProperties {
    use parquet::file::properties::EnabledStatistics;
    use parquet::schema::types::ColumnPath;
    let mut props = lms_lake::write::properties();
    let Some(kind) = kind else { return props.build() };
    for field in schema.fields() {
        let name = field.name().as_str();
        let path = match field.data_type() {
            arrow_schema::DataType::Utf8 => ColumnPath::from(name),
            arrow_schema::DataType::List(_) => ColumnPath::new(vec![name.into(), "list".into(), "item".into()]),
            _ => continue,
        };
        if !PRUNING_TEXT.contains(&name) {
            props = props.set_column_statistics_enabled(path, EnabledStatistics::None);
        }
    }
    for (column, encoding) in unique_columns(kind) {
        let path = ColumnPath::from(column);
        props = props
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path.clone(), encoding)
            .set_column_compression(path.clone(), zstd(1))
            .set_column_statistics_enabled(path, EnabledStatistics::None);
    }
    props.build()
}

/// A new data file of `schema`; `kind` where it holds an extract's rows (see [`properties`]).
fn writer(
    lake: &Lake,
    file: DataFile,
    schema: arrow_schema::SchemaRef,
    kind: Option<ExtractKind>,
) -> Result<FileWriter, EtlError> {
    let props = properties(&schema, kind);
    Ok(FileWriter::new(lake, file, schema, props)?)
}

/// The context every load of a run shares.
#[derive(Clone, Debug)]
pub struct LoadContext {
    pub lake: Lake,
    pub reference: Arc<Reference>,
    pub key: PseudonymKey,
    pub run_id: String,
}

/// A new, empty data file of `table` at a fresh name in its partition
/// (`{table}/rhf={rhf}/period={period}/{run_id}-{seq}.parquet`).
fn fresh_file(table: &str, rhf: &str, period: Option<&str>, run_id: &str, seq: usize) -> DataFile {
    let mut path = format!("{table}/rhf={rhf}");
    if let Some(p) = period {
        path += &format!("/period={p}");
    }
    DataFile {
        path: format!("{path}/{run_id}-{seq:05}.parquet"),
        table: table.into(),
        rhf: Some(rhf.into()),
        period: period.map(str::to_string),
        rows: 0,
        bytes: 0,
    }
}

/// Checks and loads one fetched delivery. `seq` makes its file names unique within the run.
pub async fn load(
    ctx: &LoadContext,
    source: &Source,
    listed: &Listed,
    fetched: &Fetched,
    seq: usize,
) -> Result<Loaded, EtlError> {
    // As every record, quarantine row and log line keeps it: a name holding an identity number
    // (which breaks the naming convention anyway) is kept masked.
    let name = lms_schemas::identity::mask_identity_numbers(&listed.name).into_owned();
    // What the name says decides the extract; a source restricted to one extract refuses others.
    let parsed = Delivery::parse(&name).ok();
    let kind = match (source.extract, &parsed) {
        (Some(k), _) => k,
        (None, Some(d)) => d.extract,
        (None, None) => ExtractKind::Activity, // the name check below rejects it
    };
    let mut record = DeliveryRecord {
        source: source.name.clone(),
        file: name.clone(),
        sha256: fetched.sha256.clone(),
        size: fetched.size,
        rhf: parsed.as_ref().map(|d| d.rhf.code().to_string()),
        extract: parsed.as_ref().map(|d| d.extract.name().to_string()),
        period: parsed.as_ref().map(|d| d.period.to_string()),
        version: parsed.as_ref().map(|d| d.version),
        status: lms_lake::DeliveryStatus::Loaded,
        rows_read: 0,
        rows_loaded: 0,
        rows_rejected: 0,
        rejected_by_rule: BTreeMap::new(),
        rule: None,
        message: None,
        unknown_columns: Vec::new(),
        run_id: ctx.run_id.clone(),
        processed_at: chrono::Utc::now(),
        data_files: Vec::new(),
    };
    let qctx = QuarantineContext {
        run_id: ctx.run_id.clone(),
        source: source.name.clone(),
        delivery: name.clone(),
        rhf: record.rhf.clone(),
        extract: record.extract.clone(),
        period: record.period.clone(),
    };
    let partition_rhf = record.rhf.clone().unwrap_or_else(|| source.rhf.code().to_string());

    // The name first: a file off the convention or of another region is not opened.
    if let Err(rejection) = check_file_name(&name, kind, source.rhf) {
        return reject(ctx, record, qctx, &partition_rhf, seq, rejection).await;
    }
    let period = record.period.clone().expect("a valid name has a period");

    let (tx, mut rx) = mpsc::channel::<Msg>(4);
    let opener = fetched.opener().map_err(|e| source.error(format!("{name}: {e}")))?;
    let reference = ctx.reference.clone();
    let key = ctx.key.clone();
    let (rhf, file_name, q) = (source.rhf, name.clone(), qctx.clone());
    let period_for_rows = period.clone();
    let checking = tokio::task::spawn_blocking(move || {
        let mut rows = RowBatcher::new(kind, &period_for_rows, &file_name, key.clone(), reference.clone());
        let mut quarantine = QuarantineBatcher::new(q, key);
        let mut closed = false;
        let result = check_delivery_in_one_pass(
            &file_name,
            kind,
            rhf,
            &reference,
            || opener.open(),
            |event| {
                let row = match event {
                    RowEvent::Row(row) => row,
                    RowEvent::Restart => {
                        rows.finish();
                        quarantine.finish();
                        if tx.blocking_send(Msg::Restart).is_err() {
                            closed = true;
                        }
                        return;
                    }
                };
                if row.is_accepted() {
                    rows.push(row);
                    if rows.len() >= BATCH_ROWS && tx.blocking_send(Msg::Data(rows.finish())).is_err() {
                        closed = true;
                    }
                } else {
                    quarantine.push_row(row);
                    if quarantine.len() >= BATCH_ROWS && tx.blocking_send(Msg::Quarantine(quarantine.finish())).is_err()
                    {
                        closed = true;
                    }
                }
            },
        );
        if result.is_ok() && !closed {
            if !rows.is_empty() {
                let _ = tx.blocking_send(Msg::Data(rows.finish()));
            }
            if !quarantine.is_empty() {
                let _ = tx.blocking_send(Msg::Quarantine(quarantine.finish()));
            }
        }
        result
    });

    let mut data: Option<FileWriter> = None;
    let mut quarantine: Option<FileWriter> = None;
    let mut failure = None;
    while let Some(msg) = rx.recv().await {
        let step = async {
            match msg {
                Msg::Data(batch) => {
                    if data.is_none() {
                        let file = fresh_file(kind.name(), &partition_rhf, Some(&period), &ctx.run_id, seq);
                        data = Some(writer(&ctx.lake, file, kind.lake_schema(), Some(kind))?);
                    }
                    Ok(data.as_mut().expect("created").write(&batch).await?)
                }
                Msg::Quarantine(batch) => {
                    if quarantine.is_none() {
                        let file = fresh_file("quarantine", &partition_rhf, Some(&period), &ctx.run_id, seq);
                        quarantine = Some(writer(&ctx.lake, file, quarantine_schema(), None)?);
                    }
                    Ok(quarantine.as_mut().expect("created").write(&batch).await?)
                }
                Msg::Restart => discard(&ctx.lake, [data.take(), quarantine.take()]).await,
            }
        };
        if let Err(e) = step.await {
            failure = Some(e);
            break;
        }
    }
    drop(rx); // unblocks the checker if we stopped early
    let checked = checking.await.map_err(|e| EtlError::Internal(format!("checking {name}: {e}")))?;
    if let Some(e) = failure {
        return Err(e);
    }
    if let Err(message) = fetched.verify_unchanged() {
        discard(&ctx.lake, [data, quarantine]).await?;
        return Err(source.error(format!("{name}: {message}")));
    }
    match checked {
        Err(rejection) => {
            // Rows may have been written before the fault was found: they go, the file is rejected whole.
            discard(&ctx.lake, [data, quarantine]).await?;
            reject(ctx, record, qctx, &partition_rhf, seq, rejection).await
        }
        Ok((_, summary)) => {
            record.rows_read = summary.rows_read;
            record.rows_loaded = summary.rows_loaded;
            record.rows_rejected = summary.rows_rejected;
            record.rejected_by_rule =
                summary.rows_rejected_by_rule.iter().map(|(r, n)| (r.as_str().to_string(), *n)).collect();
            // By place, never by name: a run record and a log hold no value from a file (a header
            // can hold anything); `lms check` names them for the producer.
            record.unknown_columns = summary.unknown_column_places.clone();
            if !summary.unknown_column_places.is_empty() {
                tracing::warn!(
                    delivery = %name,
                    columns = ?summary.unknown_column_places,
                    "columns not in the contract kept out of the lake (`lms check` names them)"
                );
            }
            let data = match data {
                Some(w) => vec![with_size(ctx, w.close().await?).await?],
                None => Vec::new(),
            };
            let quarantine = match quarantine {
                Some(w) => vec![with_size(ctx, w.close().await?).await?],
                None => Vec::new(),
            };
            record.data_files = data.iter().map(|f| f.path.clone()).collect();
            Ok(Loaded { record, data, quarantine })
        }
    }
}

/// Finishes the files whose rows are void and deletes them (they were never committed; were a
/// delete to fail, the next run would clean the file up as garbage).
async fn discard(lake: &Lake, writers: [Option<FileWriter>; 2]) -> Result<(), EtlError> {
    use object_store::ObjectStoreExt;
    for w in writers.into_iter().flatten() {
        let path = lake.path(&w.file().path);
        w.close().await?;
        lake.store().delete(&path).await.map_err(EtlError::lake)?;
    }
    Ok(())
}

async fn with_size(ctx: &LoadContext, mut file: DataFile) -> Result<DataFile, EtlError> {
    use object_store::ObjectStoreExt;
    file.bytes = ctx.lake.store().head(&ctx.lake.path(&file.path)).await.map_err(EtlError::lake)?.size;
    Ok(file)
}

async fn reject(
    ctx: &LoadContext,
    mut record: DeliveryRecord,
    qctx: QuarantineContext,
    partition_rhf: &str,
    seq: usize,
    rejection: lms_schemas::FileRejection,
) -> Result<Loaded, EtlError> {
    tracing::warn!(delivery = %record.file, source = %record.source, rule = %rejection.rule, "{}", rejection.message);
    record.status = lms_lake::DeliveryStatus::Rejected;
    record.rule = Some(rejection.rule.as_str().to_string());
    record.message = Some(rejection.message.clone());
    let mut q = QuarantineBatcher::new(qctx, ctx.key.clone());
    q.push_file(rejection.rule.as_str(), rejection.line, &rejection.message);
    let file = fresh_file("quarantine", partition_rhf, record.period.as_deref(), &ctx.run_id, seq);
    let mut w = writer(&ctx.lake, file, quarantine_schema(), None)?;
    w.write(&q.finish()).await?;
    let file = with_size(ctx, w.close().await?).await?;
    Ok(Loaded { record, data: Vec::new(), quarantine: vec![file] })
}
