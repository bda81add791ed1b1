//! LMS Monitor's lake: Parquet files under an object store prefix, made visible only by commits.
//! The ETL writes it ([`Lake::try_commit`]); the indicators and the server only read it
//! ([`Lake::snapshot`]), so neither depends on the ETL.
//!
//! Protocol (invariants; each has a test in `tests/it`):
//! - A version is the JSON file `_log/{version:020}.json`. Version N+1 is written with a conditional
//!   put (`PutMode::Create`), so of two writers that both read version N only one can commit N+1;
//!   the other sees `AlreadyExists`, re-reads and retries or gives up. Each commit carries its
//!   writer's run id, so a writer whose commit put failed ambiguously can recognise its own commit.
//! - The lake's content at version N is what replaying commits 1..=N gives: data files added and not
//!   since removed, and the deliveries recorded. Readers take the newest version and read only its
//!   files, never a directory listing, so a half-written run is invisible.
//! - A checkpoint (`_log/{version:020}.checkpoint.json`, named by `_log/_last_checkpoint`) is that
//!   replay written down: a reader starts from the newest checkpoint and applies only the commits
//!   after it, and gets the same [`Snapshot`] as a replay from version 1. A checkpoint is written
//!   after the commit it sums up, never instead of it: a missing, stale or unreadable checkpoint
//!   costs time (the reader replays from further back), never content.
//! - Data files are written under fresh names before the commit that adds them; a crash leaves
//!   them unreferenced. [`Lake::collect_garbage`] deletes unreferenced files (and files removed by
//!   a commit) once they are older than a grace period, so a concurrent writer's in-flight files
//!   and a concurrent reader's old files survive it.
//! - Run history (`_runs/{run_id}-{source}.json`) is outside the versioned log: a failed run is
//!   recorded without moving the lake's version.

mod log;
pub mod publish;
pub mod store;
pub mod write;

pub use log::{
    CHECKPOINT_INTERVAL, Commit, DataFile, DeliveryRecord, Lake, PeriodKey, RunRecord, Snapshot, relative_to,
};
pub use publish::{Publication, Publish};

/// The lake's data tables (each a directory of Parquet files under the lake root).
pub const TABLES: [&str; 4] = ["activity", "coding", "evaluation", "quarantine"];

/// What can go wrong reading or writing the lake. The messages name the object or version.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The object store failed (network, permissions, a missing object).
    #[error("{0}")]
    Store(String),
    /// The log is not a valid sequence of commits.
    #[error("{0}")]
    Log(String),
    #[error("{0}")]
    Parquet(String),
    /// A lake URL or store setting that cannot be used.
    #[error("{0}")]
    Config(String),
    /// Building the published tables failed (the pass commits nothing).
    #[error("{0}")]
    Publish(String),
}

impl LakeError {
    pub fn store(e: impl std::fmt::Display) -> LakeError {
        LakeError::Store(e.to_string())
    }

    pub fn parquet(e: impl std::fmt::Display) -> LakeError {
        LakeError::Parquet(e.to_string())
    }
}

/// Opens the lake at a `file://` or `s3://` URL.
pub fn open(url: &str) -> Result<Lake, LakeError> {
    let (store, root) = store::open(url)?;
    Ok(Lake::new(store, root))
}
