//! `lms etl rekey`: every pseudonym of the person-level tables made again under a new key, in one
//! commit.
//!
//! The lake holds no identity number, so a pseudonym cannot be made from one again. It is made from
//! the old pseudonym instead: the new key's pseudonym of it (`PseudonymKey::then` makes the chain
//! that gives the same for the next delivery's identity numbers). So one person keeps one
//! pseudonym, every count of persons stays what it was, and a leaked old key no longer links the
//! stored pseudonyms to identity numbers: that takes the new key too.
//!
//! Invariants (tests in `tests/it/rekey.rs`):
//! - One commit removes every file with a `person` column and adds its rewritten copy (`renamed`),
//!   and records the chain's key id: the lake holds the old pseudonyms or the new, never a mix. A
//!   crash or a failure before it leaves the old lake and files no commit references (garbage).
//! - A writer (an ETL pass, another rekey) whose key id is not the lake's is refused, before it
//!   reads anything and again at its commit, so no pass mixes pseudonyms under two keys.
//! - The commit carries no published tables: the publication served stays, and rebuilding it gives
//!   the same figures.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use lms_lake::transaction::{Transaction, new_run_id};
use lms_lake::write::{FileWriter, properties};
use lms_lake::{Commit, DataFile, Lake, TABLES};
use lms_schemas::identity::PseudonymKey;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::EtlError;

/// The column of the person-level tables that holds the pseudonym.
pub const PERSON: &str = "person";

/// What a rekey did.
#[derive(Clone, Debug)]
pub struct Rekeyed {
    /// The version whose commit holds the new pseudonyms.
    pub version: u64,
    pub files: usize,
    pub rows: u64,
    /// The id of the chain the lake is now under (what the key file must hold).
    pub key_id: String,
    /// The key (chain) for the passes from now on, one key per line: the old keys, then the new.
    pub chain: PseudonymKey,
}

/// Makes every pseudonym of `lake` again with `new`; `current` must be the key (chain) the lake's
/// pseudonyms are under now.
pub async fn rekey(lake: &Lake, current: &PseudonymKey, new: &PseudonymKey) -> Result<Rekeyed, EtlError> {
    let snapshot = lake.snapshot().await?;
    let run_id = new_run_id();
    Transaction::new(lake, &run_id).key_id(Some(current.id())).check_key(&snapshot)?;
    let chain = current.then(new);
    let mut written: Vec<String> = Vec::new();
    let mut add = Vec::new();
    let mut renamed = Vec::new();
    let rewritten = async {
        for f in snapshot.files.values().filter(|f| TABLES.contains(&f.table.as_str())) {
            if let Some(file) = rewrite(lake, f, new, &run_id, &mut written).await? {
                renamed.push((f.path.clone(), file.path.clone()));
                add.push(file);
            }
        }
        Ok::<_, EtlError>(())
    }
    .await;
    if let Err(e) = rewritten {
        lake.delete_uncommitted(&written).await;
        return Err(e);
    }
    let rows = add.iter().map(|f: &DataFile| f.rows).sum();
    let commit = Commit {
        version: snapshot.version + 1,
        run_id: run_id.clone(),
        committed_at: chrono::Utc::now(),
        add,
        remove: renamed.iter().map(|(old, _)| old.clone()).collect(),
        deliveries: Vec::new(),
        published: None,
        digest: None,
        key_id: Some(chain.id()),
        renamed,
    };
    if !lake.try_commit(&commit).await? {
        lake.delete_uncommitted(&written).await;
        return Err(EtlError::Conflict(format!(
            "another writer committed version {} first; nothing was changed: run the rekey again",
            commit.version
        )));
    }
    let mut after = snapshot;
    after.apply(&commit);
    if let Err(e) = lake.checkpoint_if_due(&after).await {
        tracing::warn!(run_id, error = %e, "checkpoint not written");
    }
    tracing::info!(
        run_id,
        version = commit.version,
        files = commit.add.len(),
        rows,
        "pseudonyms made again under a new key"
    );
    Ok(Rekeyed { version: commit.version, files: commit.add.len(), rows, key_id: chain.id(), chain })
}

/// Writes `file` again beside it with every `person` made again by `new`; `None` for a file with no
/// `person` column (kept as it is).
async fn rewrite(
    lake: &Lake,
    file: &DataFile,
    new: &PseudonymKey,
    run_id: &str,
    written: &mut Vec<String>,
) -> Result<Option<DataFile>, EtlError> {
    // The file whole in memory: one partition (a region's month) of one table, compressed.
    let bytes = lake.store().get(&lake.path(&file.path)).await.map_err(EtlError::lake)?.bytes().await;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(bytes.map_err(EtlError::lake)?).map_err(EtlError::parquet)?;
    let schema = builder.schema().clone();
    let Ok(column) = schema.index_of(PERSON) else { return Ok(None) };
    let batches = builder.build().map_err(EtlError::parquet)?;
    let stem = file.path.strip_suffix(".parquet").unwrap_or(&file.path);
    let path = format!("{stem}-rekey-{run_id}.parquet");
    let target = DataFile { path: path.clone(), rows: 0, bytes: 0, ..file.clone() };
    let mut w = FileWriter::new(lake, target, schema.clone(), properties().build())?;
    written.push(path.clone());
    for batch in batches {
        let batch = batch.map_err(EtlError::parquet)?;
        let people = batch
            .column(column)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| EtlError::Parquet(format!("{}: `{PERSON}` is not text", file.path)))?;
        let again: StringArray = people
            .iter()
            .map(|p| p.map(|p| String::from_utf8(new.pseudonym_hex(p).to_vec()).expect("hex digits")))
            .collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[column] = Arc::new(again);
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(EtlError::parquet)?;
        w.write(&batch).await?;
    }
    let mut done = w.close().await?;
    done.bytes = lake.store().head(&lake.path(&path)).await.map_err(EtlError::lake)?.size;
    debug_assert_eq!(done.rows, file.rows);
    Ok(Some(done))
}
