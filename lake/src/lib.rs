//! LMS Monitor's lake: Parquet files under an object store prefix, made visible only by commits.
//! Writers (the ETL, `lms-ballista`) move it on by a [`Transaction`] (plan, publish, commit, retry,
//! checkpoint, collect garbage); the indicators and the server only read it ([`Lake::snapshot`]), so
//! neither depends on the ETL. A [`Lake`] knows its URL ([`Lake::location`]): readers address its
//! files by it, and no other crate parses a lake URL.
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
//!   them unreferenced. [`Lake::collect_garbage`] deletes unreferenced files once they are older
//!   than a grace period, so a concurrent writer's in-flight files survive it, and files removed by
//!   a commit once that commit is older than the snapshots kept (`[retention] snapshots_days`), so
//!   a reader of any kept snapshot finds every file it reads. [`vacuum`] lists and deletes the same,
//!   and lets person-level rows past their years leave by a commit.
//! - The access log (`_audit/`) is a hash chain of objects written once; its protocol is in
//!   [`access`].
//! - Run history (`_runs/{run_id}-{source}.json`) is outside the versioned log: a failed run is
//!   recorded without moving the lake's version.

pub mod access;
mod error;
mod log;
pub mod publish;
pub mod store;
pub mod transaction;
pub mod vacuum;
pub mod write;

pub use log::{
    CHECKPOINT_INTERVAL, Commit, DataFile, DeliveryRecord, DeliveryStatus, Garbage, Lake, PUBLISHED_DIR, PeriodKey,
    RunRecord, RunStatus, Snapshot, relative_to,
};
pub use publish::{Publication, Publish};
pub use store::Location;
pub use transaction::{Changes, Committed, Transaction, new_run_id};

pub use error::LakeError;
pub use log::TABLES;
