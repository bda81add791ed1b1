//! A writer's transaction: plan a commit on the lake as it is, add the published tables built for
//! the lake after it, commit, and on losing the race re-read the lake and plan again. Then the
//! housekeeping a commit owes: the checkpoint when one is due, and garbage collection.
//!
//! Invariants (tests in `tests/it/transaction.rs` and the ETL's fault tests):
//! - The published tables are built for exactly the snapshot the commit makes (the base plus the
//!   planned changes), so data and indicators of one version always belong together.
//! - Nothing is committed unless the whole commit is: a failed build or a failed put leaves the lake
//!   at its version, and the files this writer wrote for it are deleted (best effort; the rest is
//!   garbage that [`Lake::collect_garbage`] removes after its grace period).
//! - A plan is made again from the newest snapshot after every lost race, so a retry never commits
//!   what another writer committed meanwhile.

use std::sync::Arc;

use chrono::Utc;

use crate::error::LakeError;
use crate::{Commit, DataFile, DeliveryRecord, Lake, Publication, Publish, Snapshot};

/// What a writer wants to change, planned against one snapshot.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub add: Vec<DataFile>,
    /// Lake-relative paths of files the commit removes.
    pub remove: Vec<String>,
    pub deliveries: Vec<DeliveryRecord>,
    /// Files this writer wrote that the commit will not reference (an older version of a period,
    /// bytes another writer loaded meanwhile): deleted once the transaction ends.
    pub discard: Vec<String>,
}

impl Changes {
    /// Whether committing these would change nothing.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty() && self.deliveries.is_empty()
    }
}

/// How a transaction ended.
#[derive(Clone, Debug)]
pub struct Committed {
    /// The commit written; `None` when there was nothing to commit.
    pub commit: Option<Commit>,
    /// The lake after the transaction (the snapshot it planned on, when nothing was committed).
    pub snapshot: Snapshot,
    /// Files deleted by the garbage collection that ended the transaction.
    pub garbage_deleted: usize,
}

/// One writer's way to move the lake one version on (see the module's invariants).
#[derive(Clone, Debug)]
pub struct Transaction {
    lake: Lake,
    run_id: String,
    publisher: Option<Arc<dyn Publish>>,
    republish: bool,
    attempts: u32,
    garbage_grace: chrono::Duration,
    keep_snapshots: chrono::Duration,
    key_id: Option<String>,
}

/// Tries before a transaction gives up when other writers keep committing first.
pub const COMMIT_ATTEMPTS: u32 = 5;

/// Unreferenced files younger than this are left alone by garbage collection: another writer may be
/// about to commit them, a reader of an older version may still read them.
pub fn default_garbage_grace() -> chrono::Duration {
    chrono::Duration::hours(1)
}

/// How long the files of a replaced version stay for readers of older snapshots, unless
/// `[retention] snapshots_days` says otherwise.
pub fn default_keep_snapshots() -> chrono::Duration {
    chrono::Duration::days(7)
}

/// A run id: UTC time and 8 random bytes, sortable and unique enough for a writer to recognise its
/// own commit after an ambiguous put.
pub fn new_run_id() -> String {
    format!("{}-{:016x}", Utc::now().format("%Y%m%dT%H%M%SZ"), rand::random::<u64>())
}

impl Transaction {
    /// A transaction on `lake` whose commit carries `run_id`.
    pub fn new(lake: &Lake, run_id: &str) -> Transaction {
        Transaction {
            lake: lake.clone(),
            run_id: run_id.to_string(),
            publisher: None,
            republish: false,
            attempts: COMMIT_ATTEMPTS,
            garbage_grace: default_garbage_grace(),
            keep_snapshots: default_keep_snapshots(),
            key_id: None,
        }
    }

    /// Builds the published tables into the commit (the indicators); without one, data only.
    pub fn publisher(mut self, publisher: Option<Arc<dyn Publish>>) -> Transaction {
        self.publisher = publisher;
        self
    }

    /// Rebuilds the published tables even where the definitions did not change (with nothing else
    /// to commit, the commit holds only them).
    pub fn republish(mut self, republish: bool) -> Transaction {
        self.republish = republish;
        self
    }

    pub fn attempts(mut self, attempts: u32) -> Transaction {
        self.attempts = attempts.max(1);
        self
    }

    pub fn garbage_grace(mut self, grace: chrono::Duration) -> Transaction {
        self.garbage_grace = grace;
        self
    }

    /// Files a commit removed stay this long after it (a reader of a snapshot this young finds
    /// every file it reads); garbage collection deletes them after.
    pub fn keep_snapshots(mut self, keep: chrono::Duration) -> Transaction {
        self.keep_snapshots = keep;
        self
    }

    /// The id of the pseudonymisation key this writer's person-level rows are under: recorded in
    /// its commit, and the commit refused where the lake's rows are under another key.
    pub fn key_id(mut self, key_id: Option<String>) -> Transaction {
        self.key_id = key_id;
        self
    }

    /// Refuses a writer whose key is not the one the lake's pseudonyms are under.
    pub fn check_key(&self, snapshot: &Snapshot) -> Result<(), LakeError> {
        match (&self.key_id, &snapshot.key_id) {
            (Some(mine), Some(lake)) if mine != lake => Err(LakeError::Key(format!(
                "the pseudonymisation key given ({mine}) is not the one the lake's pseudonyms are under ({lake}) since \
                 version {}: its pseudonyms would not match. Use the key file `lms etl rekey` wrote out",
                snapshot.version
            ))),
            _ => Ok(()),
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Whether the published tables of `snapshot` are to be rebuilt with nothing else changing:
    /// asked for, or built by other definitions (an empty lake has nothing to publish).
    pub fn publish_due(&self, snapshot: &Snapshot) -> bool {
        snapshot.version > 0
            && self
                .publisher
                .as_ref()
                .is_some_and(|p| self.republish || snapshot.published.as_deref() != Some(p.fingerprint().as_str()))
    }

    /// Commits what `plan` makes of the lake as `base` shows it. Where another writer committed
    /// first, the lake is read again and `plan` asked again, up to the attempts allowed.
    pub async fn commit(
        &self,
        base: Snapshot,
        mut plan: impl FnMut(&Snapshot) -> Changes,
    ) -> Result<Committed, LakeError> {
        let lake = &self.lake;
        let run_id = self.run_id.as_str();
        let mut snapshot = base;
        for _attempt in 0..self.attempts {
            self.check_key(&snapshot)?;
            let changes = plan(&snapshot);
            if changes.is_empty() && !self.publish_due(&snapshot) {
                lake.delete_uncommitted(&changes.discard).await;
                let garbage_deleted = lake.collect_garbage(&snapshot, self.garbage_grace, self.keep_snapshots).await?;
                return Ok(Committed { commit: None, snapshot, garbage_deleted });
            }
            let Changes { add, remove, deliveries, discard } = changes;
            let mut commit = Commit {
                version: snapshot.version + 1,
                run_id: run_id.to_string(),
                committed_at: Utc::now(),
                add,
                remove,
                deliveries,
                published: None,
                digest: None,
                // Recorded by a writer of person-level rows, so the lake says which key they are under.
                key_id: self.key_id.clone(),
                renamed: Vec::new(),
            };
            let published = match &self.publisher {
                Some(p) => self.add_published(p.as_ref(), &snapshot, &mut commit, &discard).await?,
                None => Vec::new(),
            };
            if lake.try_commit(&commit).await? {
                lake.delete_uncommitted(&discard).await;
                // The lake after the commit is this snapshot plus the commit: no need to re-read the log.
                snapshot.apply(&commit);
                // Best effort: without it, readers replay further back; nothing is lost.
                if let Err(e) = lake.checkpoint_if_due(&snapshot).await {
                    tracing::warn!(run_id, version = commit.version, error = %e, "checkpoint not written");
                }
                let garbage_deleted = lake.collect_garbage(&snapshot, self.garbage_grace, self.keep_snapshots).await?;
                return Ok(Committed { commit: Some(commit), snapshot, garbage_deleted });
            }
            tracing::info!(run_id, version = commit.version, "another writer committed first; re-planning");
            lake.delete_uncommitted(&published).await;
            snapshot = lake.snapshot().await?;
        }
        Err(LakeError::Conflict(format!(
            "gave up after {} attempts: other writers kept committing first",
            self.attempts
        )))
    }

    /// Adds the published tables for the lake after `commit` to it (replacing the current ones);
    /// returns the paths written. On failure the commit's own files are deleted too.
    async fn add_published(
        &self,
        publisher: &dyn Publish,
        snapshot: &Snapshot,
        commit: &mut Commit,
        discard: &[String],
    ) -> Result<Vec<String>, LakeError> {
        let mut next = snapshot.clone();
        next.apply(commit);
        let started = std::time::Instant::now();
        let Publication { files, digest } = match publisher.publish(&self.lake, &next, &self.run_id).await {
            Ok(p) => p,
            Err(e) => {
                // The data files are not committed either: the next pass loads them again.
                let mine: Vec<String> =
                    commit.add.iter().map(|f| f.path.clone()).chain(discard.iter().cloned()).collect();
                self.lake.delete_uncommitted(&mine).await;
                return Err(e);
            }
        };
        tracing::info!(
            run_id = self.run_id,
            version = commit.version,
            files = files.len(),
            %digest,
            seconds = started.elapsed().as_secs_f64(),
            "published tables built"
        );
        let owned = publisher.tables();
        commit
            .remove
            .extend(snapshot.files.values().filter(|f| owned.contains(&f.table.as_str())).map(|f| f.path.clone()));
        let paths = files.iter().map(|f| f.path.clone()).collect();
        commit.add.extend(files);
        commit.published = Some(publisher.fingerprint());
        commit.digest = Some(digest);
        Ok(paths)
    }
}
