//! The lake: Parquet files under an object store prefix, made visible only by commits.
//!
//! Protocol (invariants):
//! - A version is the JSON file `_log/{version:020}.json`. Version N+1 is written with a conditional
//!   put (`PutMode::Create`), so of two writers that both read version N only one can commit N+1;
//!   the other sees `AlreadyExists`, re-reads and retries or gives up. Each commit carries its
//!   writer's run id, so a writer whose commit put failed ambiguously can recognise its own commit.
//! - The lake's content at version N is what replaying commits 1..=N gives: data files added and not
//!   since removed, and the deliveries recorded. Readers take the newest version and read only its
//!   files, never a directory listing, so a half-written run is invisible.
//! - Data files are written under fresh names before the commit that adds them; a crash leaves
//!   them unreferenced. `collect_garbage` deletes unreferenced files (and files removed by a
//!   commit) once they are older than a grace period, so a concurrent writer's in-flight files and a
//!   concurrent reader's old files survive it.
//! - Run history (`_runs/{run_id}.json`) is outside the versioned log: a failed run is recorded
//!   without moving the lake's version.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::EtlError;

/// A data file a commit adds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Relative to the lake root.
    pub path: String,
    /// `activity`, `coding`, `evaluation` or `quarantine`.
    pub table: String,
    pub rhf: Option<String>,
    pub period: Option<String>,
    pub rows: u64,
    pub bytes: u64,
}

/// What happened to one delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub source: String,
    /// The file name as delivered.
    pub file: String,
    pub sha256: String,
    pub size: u64,
    pub rhf: Option<String>,
    pub extract: Option<String>,
    pub period: Option<String>,
    pub version: Option<u32>,
    /// `loaded`, `rejected` (the whole file) or `superseded` (a newer version of its period arrived).
    pub status: String,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    pub rejected_by_rule: BTreeMap<String, u64>,
    /// For a file rejected whole.
    pub rule: Option<String>,
    pub message: Option<String>,
    pub unknown_columns: Vec<String>,
    pub run_id: String,
    pub processed_at: DateTime<Utc>,
    /// The data files holding this delivery's accepted rows (empty unless loaded).
    pub data_files: Vec<String>,
}

/// One commit: `_log/{version}.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    pub version: u64,
    pub run_id: String,
    pub committed_at: DateTime<Utc>,
    pub add: Vec<DataFile>,
    pub remove: Vec<String>,
    pub deliveries: Vec<DeliveryRecord>,
    /// The fingerprint of the definitions the published tables of this commit were built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// The digest of the published tables' content (set with `published`): the same figures give
    /// the same digest, whatever the version, run or machine that built them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// The period a loaded delivery fills.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeriodKey {
    pub rhf: String,
    pub extract: String,
    pub period: String,
}

/// The lake at one version.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub version: u64,
    /// Live data files by path.
    pub files: BTreeMap<String, DataFile>,
    /// Files removed by a commit, with when, for garbage collection.
    pub removed: BTreeMap<String, DateTime<Utc>>,
    /// The delivery that fills each period now.
    pub periods: BTreeMap<PeriodKey, DeliveryRecord>,
    /// Every delivery ever processed, in commit order.
    pub deliveries: Vec<DeliveryRecord>,
    /// (source, file name, sha256) of every delivery processed: the same delivery (same name, same
    /// bytes) is not processed twice.
    pub processed: BTreeSet<(String, String, String)>,
    pub committed_at: Option<DateTime<Utc>>,
    /// The fingerprint of the published tables' definitions (see [`crate::Publish`]).
    pub published: Option<String>,
    /// The digest of the published tables' content ([`crate::run::Publication::digest`]), from the
    /// commit that set `published`; `None` for tables published before digests were recorded.
    pub digest: Option<String>,
}

impl Snapshot {
    /// The lake after `c`, committed on top of this version.
    pub fn apply(&mut self, c: &Commit) {
        self.version = c.version;
        self.committed_at = Some(c.committed_at);
        if c.published.is_some() {
            self.published = c.published.clone();
            self.digest = c.digest.clone();
        }
        for path in &c.remove {
            self.files.remove(path);
            self.removed.insert(path.clone(), c.committed_at);
        }
        for f in &c.add {
            self.files.insert(f.path.clone(), f.clone());
        }
        for d in &c.deliveries {
            self.processed.insert(d.processed_key());
            if d.status == "loaded"
                && let Some(key) = d.period_key()
            {
                self.periods.insert(key, d.clone());
            }
            self.deliveries.push(d.clone());
        }
    }

    /// Live files of a table.
    pub fn table_files(&self, table: &str) -> impl Iterator<Item = &DataFile> {
        self.files.values().filter(move |f| f.table == table)
    }
}

impl DeliveryRecord {
    /// What identifies a delivery as already processed.
    pub fn processed_key(&self) -> (String, String, String) {
        (self.source.clone(), self.file.clone(), self.sha256.clone())
    }

    pub fn period_key(&self) -> Option<PeriodKey> {
        Some(PeriodKey { rhf: self.rhf.clone()?, extract: self.extract.clone()?, period: self.period.clone()? })
    }
}

/// One run's record in `_runs/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub source: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// `succeeded`, `nothing_new` or `failed`.
    pub status: String,
    /// The lake version the run committed, if it committed.
    pub version: Option<u64>,
    pub files: u64,
    pub files_rejected: u64,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    pub rejected_by_rule: BTreeMap<String, u64>,
    pub error: Option<String>,
}

/// A lake on an object store.
#[derive(Clone, Debug)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    root: Path,
}

fn log_path(root: &Path, version: u64) -> Path {
    root.clone().join("_log").join(format!("{version:020}.json"))
}

impl Lake {
    pub fn new(store: Arc<dyn ObjectStore>, root: Path) -> Lake {
        Lake { store, root }
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The object store path of a lake-relative path.
    pub fn path(&self, relative: &str) -> Path {
        relative.split('/').fold(self.root.clone(), |p, part| p.join(part))
    }

    /// The versions in the log, in order.
    pub async fn versions(&self) -> Result<Vec<u64>, EtlError> {
        let prefix = self.root.clone().join("_log");
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await.map_err(EtlError::lake)?;
        let mut versions: Vec<u64> =
            metas.iter().filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse().ok()).collect();
        versions.sort_unstable();
        Ok(versions)
    }

    async fn read_commit(&self, version: u64) -> Result<Commit, EtlError> {
        let bytes = self.store.get(&log_path(&self.root, version)).await.map_err(EtlError::lake)?.bytes().await;
        let bytes = bytes.map_err(EtlError::lake)?;
        serde_json::from_slice(&bytes).map_err(|e| EtlError::Lake(format!("commit {version}: {e}")))
    }

    /// The newest committed version of the lake.
    pub async fn snapshot(&self) -> Result<Snapshot, EtlError> {
        let mut snapshot = Snapshot::default();
        for (i, v) in self.versions().await?.into_iter().enumerate() {
            if v != i as u64 + 1 {
                return Err(EtlError::Lake(format!("the log skips from version {i} to {v}")));
            }
            snapshot.apply(&self.read_commit(v).await?);
        }
        Ok(snapshot)
    }

    /// Writes `commit` as version `base.version + 1`. `Ok(false)`: another writer committed that
    /// version first; re-read and decide again.
    pub async fn try_commit(&self, commit: &Commit) -> Result<bool, EtlError> {
        let path = log_path(&self.root, commit.version);
        let body = serde_json::to_vec_pretty(commit).expect("commit serialises");
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.store.put_opts(&path, PutPayload::from(body), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => {
                // Ours, if an earlier attempt's put landed though its answer was lost.
                Ok(self.read_commit(commit.version).await?.run_id == commit.run_id)
            }
            Err(e) => Err(EtlError::lake(e)),
        }
    }

    /// Deletes files this writer wrote but will not commit. Best effort: what is left is garbage
    /// that `collect_garbage` removes later.
    pub async fn delete_uncommitted(&self, paths: &[String]) {
        for path in paths {
            if let Err(e) = self.store.delete(&self.path(path)).await {
                tracing::debug!(path, error = %e, "uncommitted file left for garbage collection");
            }
        }
    }

    /// Records a run (outside the versioned log).
    pub async fn record_run(&self, run: &RunRecord) -> Result<(), EtlError> {
        let path = self.root.clone().join("_runs").join(format!("{}-{}.json", run.run_id, run.source));
        let body = serde_json::to_vec_pretty(run).expect("run serialises");
        self.store.put(&path, PutPayload::from(body)).await.map_err(EtlError::lake)?;
        Ok(())
    }

    /// Every recorded run, oldest first.
    pub async fn runs(&self) -> Result<Vec<RunRecord>, EtlError> {
        let prefix = self.root.clone().join("_runs");
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await.map_err(EtlError::lake)?;
        let mut runs = Vec::new();
        for m in metas {
            let bytes = self.store.get(&m.location).await.map_err(EtlError::lake)?.bytes().await;
            let bytes = bytes.map_err(EtlError::lake)?;
            match serde_json::from_slice::<RunRecord>(&bytes) {
                Ok(r) => runs.push(r),
                Err(e) => tracing::warn!(path = %m.location, error = %e, "unreadable run record"),
            }
        }
        runs.sort_by(|a, b| (a.started_at, &a.run_id, &a.source).cmp(&(b.started_at, &b.run_id, &b.source)));
        Ok(runs)
    }

    /// Deletes data files that no commit references (left by crashed or losing writers) and files
    /// removed by a commit, once older than `grace`. Returns how many were deleted.
    pub async fn collect_garbage(&self, snapshot: &Snapshot, grace: chrono::Duration) -> Result<usize, EtlError> {
        let now = Utc::now();
        let mut deleted = 0;
        for table in crate::TABLES {
            let prefix = self.root.clone().join(table);
            let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await.map_err(EtlError::lake)?;
            for m in metas {
                let relative = relative_to(&self.root, &m.location);
                let garbage = match snapshot.removed.get(&relative) {
                    _ if snapshot.files.contains_key(&relative) => false,
                    Some(removed_at) => now - *removed_at >= grace,
                    None => now - m.last_modified >= grace,
                };
                if garbage {
                    self.store.delete(&m.location).await.map_err(EtlError::lake)?;
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }
}

/// A store path relative to the lake root, with `/`.
pub fn relative_to(root: &Path, path: &Path) -> String {
    let root = root.as_ref();
    let p = path.as_ref();
    p.strip_prefix(root).map(|s| s.trim_start_matches('/')).unwrap_or(p).to_string()
}
