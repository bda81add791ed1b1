//! Retention (`lms lake vacuum`): what the lake may forget, and forgetting it.
//!
//! Invariants (tests in `tests/it/vacuum.rs`):
//! - A reader of a kept snapshot (any version committed within `keep_snapshots`, and the newest)
//!   finds every file it reads: a file is deleted only when no such snapshot holds it.
//! - A file no commit added is deleted only once older than `grace`: a pass running beside the
//!   vacuum may be about to commit it.
//! - Person-level rows past `person_level_years` leave by a commit that removes their files (they
//!   are partitioned by period, so no file is rewritten); the commit carries no published tables, so
//!   the publication served stays as it is. Their bytes go once that commit is older than
//!   `keep_snapshots`, like any removed file.
//! - The access log's objects past `audit` go from the oldest end of the chain, after the cut that
//!   keeps the rest checkable ([`crate::access::expire`]).

use chrono::{DateTime, Datelike, Utc};
use object_store::ObjectStoreExt;
use serde::Serialize;

use crate::error::LakeError;
use crate::log::{Garbage, TABLES};
use crate::transaction::{Changes, Transaction, new_run_id};
use crate::{Lake, Snapshot, access};

/// What is kept.
#[derive(Clone, Debug)]
pub struct Retention {
    /// Snapshots committed this recently stay readable.
    pub keep_snapshots: chrono::Duration,
    /// Years of person-level rows kept, by period; `None`: all.
    pub person_level_years: Option<u32>,
    /// How long the access log's objects are kept.
    pub audit: chrono::Duration,
    /// Files no commit added are left alone this long.
    pub grace: chrono::Duration,
}

/// What a vacuum found, and did with `apply`.
#[derive(Clone, Debug, Serialize)]
pub struct Vacuum {
    /// The lake version it planned on.
    pub version: u64,
    /// Person-level files whose period is past `person_level_years`.
    pub expired: Vec<String>,
    /// The version whose commit removed them.
    pub committed: Option<u64>,
    /// Files no kept snapshot reads.
    pub garbage: Vec<Garbage>,
    /// The access log's expired objects.
    pub audit: access::Expired,
    pub applied: bool,
}

/// The first period (`YYYY-MM`) kept when `years` of person-level rows are kept at `now`: the month
/// `years` years before this one.
pub fn first_period_kept(years: u32, now: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", now.year() - years as i32, now.month())
}

/// The live person-level files of periods before the first kept.
pub fn expired_files(snapshot: &Snapshot, years: Option<u32>, now: DateTime<Utc>) -> Vec<String> {
    let Some(years) = years else { return Vec::new() };
    let first = first_period_kept(years, now);
    snapshot
        .files
        .values()
        .filter(|f| TABLES.contains(&f.table.as_str()))
        .filter(|f| f.period.as_deref().is_some_and(|p| p < first.as_str()))
        .map(|f| f.path.clone())
        .collect()
}

/// Lists (and with `apply` does) what `retention` lets go at `now`: the person-level files past
/// their years by a commit, then every file no kept snapshot reads, then the access log's old
/// objects.
pub async fn vacuum(lake: &Lake, retention: &Retention, now: DateTime<Utc>, apply: bool) -> Result<Vacuum, LakeError> {
    let mut snapshot = lake.snapshot().await?;
    let version = snapshot.version;
    let years = retention.person_level_years;
    let expired = expired_files(&snapshot, years, now);
    let mut committed = None;
    if apply && !expired.is_empty() {
        let transaction = Transaction::new(lake, &new_run_id())
            .garbage_grace(retention.grace)
            .keep_snapshots(retention.keep_snapshots);
        // Planned again on the newest snapshot if a pass commits first.
        let done = transaction
            .commit(snapshot, |s| Changes { remove: expired_files(s, years, now), ..Changes::default() })
            .await?;
        committed = done.commit.map(|c| c.version);
        snapshot = done.snapshot;
    }
    let garbage = lake.garbage(&snapshot, retention.grace, retention.keep_snapshots, now).await?;
    if apply {
        for g in &garbage {
            lake.store().delete(&lake.path(&g.path)).await.map_err(LakeError::store)?;
        }
    }
    let audit = access::expire(lake, now - retention.audit, apply).await?;
    Ok(Vacuum { version, expired, committed, garbage, audit, applied: apply })
}
