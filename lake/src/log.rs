//! The versioned log: commits, snapshots and checkpoints (the protocol is in the crate's docs).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::LakeError;
use crate::store::Location;

/// The lake's data tables (each a directory of Parquet files under the lake root).
pub const TABLES: [&str; 4] = ["activity", "coding", "evaluation", "quarantine"];

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
    pub status: DeliveryStatus,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    pub rejected_by_rule: BTreeMap<String, u64>,
    /// For a file rejected whole.
    pub rule: Option<String>,
    pub message: Option<String>,
    /// Columns (or JSON keys) of the file that the contract does not have, by place (`column 7`,
    /// `key 2`): never by name, since a record holds no value from a file.
    pub unknown_columns: Vec<String>,
    pub run_id: String,
    pub processed_at: DateTime<Utc>,
    /// The data files holding this delivery's accepted rows (empty unless loaded).
    pub data_files: Vec<String>,
}

/// What became of a delivery (`status` in its record; the names are those of the log's JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Its accepted rows fill its period.
    Loaded,
    /// Rejected whole (its `rule` says why); nothing of it is in the data tables.
    Rejected,
    /// A newer version of its period arrived; its rows are no longer read.
    Superseded,
}

impl DeliveryStatus {
    pub fn name(self) -> &'static str {
        match self {
            DeliveryStatus::Loaded => "loaded",
            DeliveryStatus::Rejected => "rejected",
            DeliveryStatus::Superseded => "superseded",
        }
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a run of one source ended (`status` in its run record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// It processed at least one delivery of the source and committed.
    Succeeded,
    /// The source had nothing new.
    NothingNew,
    /// The pass failed; the lake kept its version (`error` says why).
    Failed,
}

impl RunStatus {
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::NothingNew => "nothing_new",
            RunStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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
    /// The id of the pseudonymisation key the person-level rows are under from this commit on
    /// (`PseudonymKey::id`, a digest: never the key). Set by the ETL's passes and by a rekey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Files whose rows this commit wrote again under a new name (a rekey): (old path, new path).
    /// The old is removed and the new added like any file; the deliveries' records follow the new.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renamed: Vec<(String, String)>,
}

/// The period a loaded delivery fills.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeriodKey {
    pub rhf: String,
    pub extract: String,
    pub period: String,
}

/// The lake at one version.
#[derive(Clone, Debug, Default, PartialEq)]
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
    /// The digest of the published tables' content ([`crate::Publication::digest`]), from the
    /// commit that set `published`; `None` for tables published before digests were recorded.
    pub digest: Option<String>,
    /// The id of the key the person-level rows' pseudonyms are under (`Commit::key_id`).
    pub key_id: Option<String>,
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
        if c.key_id.is_some() {
            self.key_id = c.key_id.clone();
        }
        for path in &c.remove {
            self.files.remove(path);
            self.removed.insert(path.clone(), c.committed_at);
        }
        for f in &c.add {
            self.files.insert(f.path.clone(), f.clone());
        }
        for d in &c.deliveries {
            self.record(d.clone());
        }
        if !c.renamed.is_empty() {
            let renamed: BTreeMap<&str, &str> = c.renamed.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let follow = |d: &mut DeliveryRecord| {
                for f in &mut d.data_files {
                    if let Some(new) = renamed.get(f.as_str()) {
                        *f = new.to_string();
                    }
                }
            };
            self.deliveries.iter_mut().for_each(follow);
            self.periods.values_mut().for_each(follow);
        }
    }

    /// A delivery processed after the ones recorded: the derived look-ups follow from the
    /// deliveries in order, so a checkpoint stores only the deliveries.
    fn record(&mut self, d: DeliveryRecord) {
        self.processed.insert(d.processed_key());
        if d.status == DeliveryStatus::Loaded
            && let Some(key) = d.period_key()
        {
            self.periods.insert(key, d.clone());
        }
        self.deliveries.push(d);
    }

    fn to_checkpoint(&self) -> Checkpoint {
        Checkpoint {
            version: self.version,
            committed_at: self.committed_at,
            published: self.published.clone(),
            digest: self.digest.clone(),
            key_id: self.key_id.clone(),
            files: self.files.values().cloned().collect(),
            removed: self.removed.iter().map(|(p, t)| (p.clone(), *t)).collect(),
            deliveries: self.deliveries.clone(),
        }
    }

    fn from_checkpoint(c: Checkpoint) -> Snapshot {
        let mut s = Snapshot {
            version: c.version,
            committed_at: c.committed_at,
            published: c.published,
            digest: c.digest,
            key_id: c.key_id,
            files: c.files.into_iter().map(|f| (f.path.clone(), f)).collect(),
            removed: c.removed.into_iter().collect(),
            ..Snapshot::default()
        };
        for d in c.deliveries {
            s.record(d);
        }
        s
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
    pub status: RunStatus,
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

/// A lake on an object store, knowing where it is.
#[derive(Clone, Debug)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    root: Path,
    location: Arc<Location>,
}

/// Commits between checkpoints: opening a lake applies at most this many commits after its newest
/// checkpoint (delta-rs' default too).
pub const CHECKPOINT_INTERVAL: u64 = 10;

/// A snapshot written down: `_log/{version:020}.checkpoint.json`. The derived look-ups of
/// [`Snapshot`] are rebuilt from `deliveries` on reading.
#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    version: u64,
    committed_at: Option<DateTime<Utc>>,
    published: Option<String>,
    digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    files: Vec<DataFile>,
    removed: Vec<(String, DateTime<Utc>)>,
    deliveries: Vec<DeliveryRecord>,
}

/// `_log/_last_checkpoint`: which checkpoint to start from.
#[derive(Debug, Serialize, Deserialize)]
struct LastCheckpoint {
    version: u64,
}

fn log_path(root: &Path, version: u64) -> Path {
    root.clone().join("_log").join(format!("{version:020}.json"))
}

fn checkpoint_path(root: &Path, version: u64) -> Path {
    root.clone().join("_log").join(format!("{version:020}.checkpoint.json"))
}

fn last_checkpoint_path(root: &Path) -> Path {
    root.clone().join("_log").join("_last_checkpoint")
}

/// The version a `_log` entry commits (`None` for checkpoints and other files).
fn commit_version(location: &Path) -> Option<u64> {
    location.filename()?.strip_suffix(".json")?.parse().ok()
}

impl Lake {
    /// Opens the lake at a `file://` or `s3://` URL (a missing directory is created).
    pub fn open(url: &str) -> Result<Lake, LakeError> {
        Lake::open_with(url, &[])
    }

    /// As [`Lake::open`], with S3 settings as `object_store` configuration keys.
    pub fn open_with(url: &str, s3_options: &[(&str, &str)]) -> Result<Lake, LakeError> {
        let opened = crate::store::open_with(url, s3_options)?;
        Ok(Lake::on_store(opened.store, opened.root, opened.location))
    }

    /// A lake over a given store at `root`, which `location` names (tests wrap stores to inject
    /// faults; readers address the files by `location`).
    pub fn on_store(store: Arc<dyn ObjectStore>, root: Path, location: Location) -> Lake {
        Lake { store, root, location: Arc::new(location) }
    }

    /// Where the lake is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The lake's URL (`file:///abs/dir` or `s3://bucket/prefix`).
    pub fn url(&self) -> String {
        self.location.url()
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The lake's root within its store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The object store path of a lake-relative path.
    pub fn path(&self, relative: &str) -> Path {
        relative.split('/').fold(self.root.clone(), |p, part| p.join(part))
    }

    /// The versions in the log, in order (a listing of the whole log).
    pub async fn versions(&self) -> Result<Vec<u64>, LakeError> {
        self.versions_after(0).await
    }

    /// The versions after `version`, in order: with a checkpoint, the listing starts after it
    /// (`list_with_offset`, which S3 answers from the offset on).
    async fn versions_after(&self, version: u64) -> Result<Vec<u64>, LakeError> {
        let prefix = self.root.clone().join("_log");
        let metas: Vec<_> = if version == 0 {
            self.store.list(Some(&prefix)).try_collect().await
        } else {
            self.store.list_with_offset(Some(&prefix), &log_path(&self.root, version)).try_collect().await
        }
        .map_err(LakeError::store)?;
        let mut versions: Vec<u64> =
            metas.iter().filter_map(|m| commit_version(&m.location)).filter(|v| *v > version).collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// The newest committed version (`None` for an empty lake), without reading any commit.
    pub async fn newest_version(&self) -> Result<Option<u64>, LakeError> {
        let from = self.last_checkpoint().await.unwrap_or(0);
        let newest = self.versions_after(from).await?.last().copied();
        Ok(newest.or((from > 0).then_some(from)))
    }

    async fn read_commit(&self, version: u64) -> Result<Commit, LakeError> {
        let bytes = self.store.get(&log_path(&self.root, version)).await.map_err(LakeError::store)?.bytes().await;
        let bytes = bytes.map_err(LakeError::store)?;
        serde_json::from_slice(&bytes).map_err(|e| LakeError::Log(format!("commit {version}: {e}")))
    }

    /// The version `_last_checkpoint` names; `None` without one, or (logged) when it is unreadable.
    async fn last_checkpoint(&self) -> Option<u64> {
        let path = last_checkpoint_path(&self.root);
        let bytes = match self.store.get(&path).await {
            Ok(got) => got.bytes().await,
            Err(object_store::Error::NotFound { .. }) => return None,
            Err(e) => Err(e),
        };
        match bytes.map_err(LakeError::store).and_then(|b| {
            serde_json::from_slice::<LastCheckpoint>(&b).map_err(|e| LakeError::Log(format!("{path}: {e}")))
        }) {
            Ok(last) => Some(last.version),
            Err(e) => {
                tracing::warn!(error = %e, "last checkpoint unreadable; replaying the log from version 1");
                None
            }
        }
    }

    async fn read_checkpoint(&self, version: u64) -> Result<Snapshot, LakeError> {
        let path = checkpoint_path(&self.root, version);
        let bytes = self.store.get(&path).await.map_err(LakeError::store)?.bytes().await.map_err(LakeError::store)?;
        let checkpoint: Checkpoint =
            serde_json::from_slice(&bytes).map_err(|e| LakeError::Log(format!("checkpoint {version}: {e}")))?;
        if checkpoint.version != version {
            return Err(LakeError::Log(format!("checkpoint {version} holds version {}", checkpoint.version)));
        }
        Ok(Snapshot::from_checkpoint(checkpoint))
    }

    /// The newest committed version of the lake: the newest checkpoint and the commits after it
    /// (all commits, where there is no checkpoint or it cannot be read).
    pub async fn snapshot(&self) -> Result<Snapshot, LakeError> {
        let mut snapshot = match self.last_checkpoint().await {
            Some(v) => match self.read_checkpoint(v).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "checkpoint unreadable; replaying the log from version 1");
                    Snapshot::default()
                }
            },
            None => Snapshot::default(),
        };
        for v in self.versions_after(snapshot.version).await? {
            if v != snapshot.version + 1 {
                return Err(LakeError::Log(format!("the log skips from version {} to {v}", snapshot.version)));
            }
            snapshot.apply(&self.read_commit(v).await?);
        }
        Ok(snapshot)
    }

    /// The lake as it was at committed `version` (for an audit of an earlier publication; its files
    /// are there as long as no garbage collection took them): the newest readable checkpoint at or
    /// before it and the commits after that checkpoint, replayed.
    pub async fn snapshot_at(&self, version: u64) -> Result<Snapshot, LakeError> {
        let mut snapshot = Snapshot::default();
        let mut at = version - version % CHECKPOINT_INTERVAL;
        while at > 0 {
            if let Ok(s) = self.read_checkpoint(at).await {
                snapshot = s;
                break;
            }
            at -= CHECKPOINT_INTERVAL;
        }
        for v in snapshot.version + 1..=version {
            snapshot.apply(&self.read_commit(v).await?);
        }
        Ok(snapshot)
    }

    /// Writes `snapshot` (the lake at a committed version) as a checkpoint and names it in
    /// `_last_checkpoint`. Any writer may write it: the replay it sums up is the same for all.
    pub async fn write_checkpoint(&self, snapshot: &Snapshot) -> Result<(), LakeError> {
        let body = serde_json::to_vec(&snapshot.to_checkpoint()).expect("checkpoint serialises");
        let path = checkpoint_path(&self.root, snapshot.version);
        self.store.put(&path, PutPayload::from(body)).await.map_err(LakeError::store)?;
        let last = serde_json::to_vec(&LastCheckpoint { version: snapshot.version }).expect("serialises");
        self.store.put(&last_checkpoint_path(&self.root), PutPayload::from(last)).await.map_err(LakeError::store)?;
        Ok(())
    }

    /// After committing `snapshot.version`: writes a checkpoint every [`CHECKPOINT_INTERVAL`]
    /// versions. Returns whether it wrote one.
    pub async fn checkpoint_if_due(&self, snapshot: &Snapshot) -> Result<bool, LakeError> {
        if snapshot.version == 0 || !snapshot.version.is_multiple_of(CHECKPOINT_INTERVAL) {
            return Ok(false);
        }
        self.write_checkpoint(snapshot).await?;
        Ok(true)
    }

    /// Writes `commit` as version `base.version + 1`. `Ok(false)`: another writer committed that
    /// version first; re-read and decide again.
    pub async fn try_commit(&self, commit: &Commit) -> Result<bool, LakeError> {
        let path = log_path(&self.root, commit.version);
        let body = serde_json::to_vec_pretty(commit).expect("commit serialises");
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.store.put_opts(&path, PutPayload::from(body), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => {
                // Ours, if an earlier attempt's put landed though its answer was lost.
                Ok(self.read_commit(commit.version).await?.run_id == commit.run_id)
            }
            Err(e) => Err(LakeError::store(e)),
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
    pub async fn record_run(&self, run: &RunRecord) -> Result<(), LakeError> {
        let path = self.root.clone().join("_runs").join(format!("{}-{}.json", run.run_id, run.source));
        let body = serde_json::to_vec_pretty(run).expect("run serialises");
        self.store.put(&path, PutPayload::from(body)).await.map_err(LakeError::store)?;
        Ok(())
    }

    /// Every recorded run, oldest first.
    pub async fn runs(&self) -> Result<Vec<RunRecord>, LakeError> {
        let prefix = self.root.clone().join("_runs");
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await.map_err(LakeError::store)?;
        let mut runs = Vec::new();
        for m in metas {
            let bytes = self.store.get(&m.location).await.map_err(LakeError::store)?.bytes().await;
            let bytes = bytes.map_err(LakeError::store)?;
            match serde_json::from_slice::<RunRecord>(&bytes) {
                Ok(r) => runs.push(r),
                Err(e) => tracing::warn!(path = %m.location, error = %e, "unreadable run record"),
            }
        }
        runs.sort_by(|a, b| (a.started_at, &a.run_id, &a.source).cmp(&(b.started_at, &b.run_id, &b.source)));
        Ok(runs)
    }

    /// Deletes the files [`Lake::garbage`] finds. Returns how many were deleted.
    pub async fn collect_garbage(
        &self,
        snapshot: &Snapshot,
        grace: chrono::Duration,
        keep_snapshots: chrono::Duration,
    ) -> Result<usize, LakeError> {
        let garbage = self.garbage(snapshot, grace, keep_snapshots, Utc::now()).await?;
        for g in &garbage {
            self.store.delete(&self.path(&g.path)).await.map_err(LakeError::store)?;
        }
        Ok(garbage.len())
    }

    /// The data files (person-level tables and published tables) that no snapshot kept at `now`
    /// reads: files `snapshot` no longer holds that a commit removed more than `keep_snapshots`
    /// before `now` (every version that read them was committed before that), and files no commit
    /// ever added, once older than `grace` (a writer may be about to commit a younger one).
    pub async fn garbage(
        &self,
        snapshot: &Snapshot,
        grace: chrono::Duration,
        keep_snapshots: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Garbage>, LakeError> {
        let mut out = Vec::new();
        for dir in TABLES.iter().chain(std::iter::once(&PUBLISHED_DIR)) {
            let prefix = self.root.clone().join(*dir);
            let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await.map_err(LakeError::store)?;
            for m in metas {
                let path = relative_to(&self.root, &m.location);
                if snapshot.files.contains_key(&path) {
                    continue;
                }
                let removed_at = snapshot.removed.get(&path).copied();
                let garbage = match removed_at {
                    Some(at) => now - at >= keep_snapshots.max(grace),
                    None => now - m.last_modified >= grace,
                };
                if garbage {
                    out.push(Garbage { path, bytes: m.size, removed_at });
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

/// Where the published tables' files are (`published/{table}/…`).
pub const PUBLISHED_DIR: &str = "published";

/// A file no kept snapshot reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Garbage {
    /// Relative to the lake root.
    pub path: String,
    pub bytes: u64,
    /// When a commit removed it; `None` for a file no commit added (a crashed or losing writer's).
    pub removed_at: Option<DateTime<Utc>>,
}

/// A store path relative to the lake root, with `/`.
pub fn relative_to(root: &Path, path: &Path) -> String {
    let root = root.as_ref();
    let p = path.as_ref();
    p.strip_prefix(root).map(|s| s.trim_start_matches('/')).unwrap_or(p).to_string()
}
