//! Retention: a vacuum deletes exactly the files no kept snapshot reads, never a file a running pass
//! is about to commit, and lets person-level rows past their years leave by a commit.

use chrono::{DateTime, Duration, TimeZone, Utc};
use lms_lake::vacuum::{Retention, vacuum};
use lms_lake::{DataFile, Lake};

use crate::{commit, lake_in};

/// When the helper's version `v` was committed.
fn at(v: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(v)
}

/// A lake of 14 versions whose data files are on disk (versions 13 and 14 removed the files of
/// versions 1 and 2), and a file no commit added.
async fn fourteen(dir: &std::path::Path) -> Lake {
    let lake = lake_in(dir);
    for v in 1..=14 {
        let c = commit(v, "r");
        for f in &c.add {
            write(dir, &f.path);
        }
        assert!(lake.try_commit(&c).await.unwrap());
    }
    write(dir, "activity/rhf=HV/period=2024-05/orphan.parquet");
    lake
}

fn write(dir: &std::path::Path, path: &str) {
    let p = dir.join("lake").join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, b"PAR1").unwrap();
}

fn exists(dir: &std::path::Path, path: &str) -> bool {
    dir.join("lake").join(path).exists()
}

/// Snapshots of `keep` kept; files no commit added left alone for a minute.
fn retention(keep: Duration) -> Retention {
    Retention {
        keep_snapshots: keep,
        person_level_years: None,
        audit: Duration::days(730),
        grace: Duration::minutes(1),
    }
}

/// The same with an hour's grace, for the tests on the real clock.
fn an_hours_grace(keep: Duration) -> Retention {
    Retention { grace: Duration::hours(1), ..retention(keep) }
}

/// Every file of every version committed at or after `cutoff`, and of the newest, is on disk.
async fn kept_snapshots_read(lake: &Lake, dir: &std::path::Path, cutoff: DateTime<Utc>) {
    let newest = lake.snapshot().await.unwrap().version;
    for v in 1..=newest {
        let s = lake.snapshot_at(v).await.unwrap();
        if v == newest || s.committed_at.unwrap() >= cutoff {
            for path in s.files.keys() {
                assert!(exists(dir, path), "version {v} reads {path}, which is gone");
            }
        }
    }
}

#[tokio::test]
async fn vacuum_deletes_exactly_the_files_no_kept_snapshot_reads() {
    let dir = tempfile::tempdir().unwrap();
    let lake = fourteen(dir.path()).await;
    let v1 = "activity/rhf=HV/period=2024-01/v1.parquet";
    let v2 = "activity/rhf=HV/period=2024-02/v2.parquet";
    let orphan = "activity/rhf=HV/period=2024-05/orphan.parquet";

    // Snapshots of the last 30 minutes kept, five minutes after version 14: every version from 1 on
    // was committed inside them, so nothing goes (the orphan is younger than the grace too).
    let v = vacuum(&lake, &retention(Duration::minutes(30)), at(19), true).await.unwrap();
    assert!(v.garbage.is_empty(), "{v:?}");

    // Ten and a half minutes kept, ten minutes after version 14: the cut-off falls between versions
    // 13 (which removed v1's file) and 14 (which removed v2's). Listed first, then deleted.
    let keep = Duration::seconds(630);
    let now = at(24);
    let listed = vacuum(&lake, &retention(keep), now, false).await.unwrap();
    assert_eq!(listed.garbage.iter().map(|g| g.path.as_str()).collect::<Vec<_>>(), vec![v1]);
    assert_eq!(listed.garbage[0].removed_at, Some(at(13)));
    assert!(!listed.applied && exists(dir.path(), v1));
    let done = vacuum(&lake, &retention(keep), now, true).await.unwrap();
    assert_eq!(done.garbage, listed.garbage);
    assert!(!exists(dir.path(), v1) && exists(dir.path(), v2) && exists(dir.path(), orphan));
    kept_snapshots_read(&lake, dir.path(), now - keep).await;
    // Version 12 (committed before the cut-off, not kept) read v1's file: that is what went.
    assert!(lake.snapshot_at(12).await.unwrap().files.contains_key(v1));

    // Today, a file a pass has just written (not yet committed) stays; the orphan, hours old by
    // the clock given, goes; v2's file, removed 340-odd days ago, stays under a 400-day retention.
    let in_flight = "activity/rhf=HV/period=2024-06/in-flight.parquet";
    write(dir.path(), in_flight);
    let now = Utc::now();
    let done = vacuum(&lake, &an_hours_grace(Duration::days(400)), now, true).await.unwrap();
    assert!(done.garbage.is_empty(), "nothing is an hour old yet: {done:?}");
    let later = now + Duration::hours(2);
    let done = vacuum(&lake, &an_hours_grace(Duration::days(400)), later, false).await.unwrap();
    let paths: Vec<&str> = done.garbage.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(paths, vec![orphan, in_flight], "listed at a later clock, not deleted");
    // The pass commits its file; a vacuum now keeps it (it is live), and deletes the orphan.
    let mut c = commit(15, "pass");
    c.add = vec![DataFile {
        path: in_flight.into(),
        table: "activity".into(),
        rhf: Some("HV".into()),
        period: Some("2024-06".into()),
        rows: 1,
        bytes: 4,
    }];
    c.remove.clear();
    assert!(lake.try_commit(&c).await.unwrap());
    let done = vacuum(&lake, &an_hours_grace(Duration::days(400)), later, true).await.unwrap();
    assert_eq!(done.garbage.iter().map(|g| g.path.as_str()).collect::<Vec<_>>(), vec![orphan]);
    assert!(exists(dir.path(), in_flight) && !exists(dir.path(), orphan) && exists(dir.path(), v2));
    // (Versions before 13 read v1's file, which the shorter retention above let go.)
    kept_snapshots_read(&lake, dir.path(), at(13)).await;
}

#[tokio::test]
async fn person_level_rows_past_their_years_leave_by_a_commit_that_keeps_the_publication() {
    let dir = tempfile::tempdir().unwrap();
    let lake = fourteen(dir.path()).await;
    let before = lake.snapshot().await.unwrap();
    // One year kept on 15 June 2025: periods from 2024-06 on; January to May 2024 go.
    let now = Utc.with_ymd_and_hms(2025, 6, 15, 12, 0, 0).unwrap();
    assert_eq!(lms_lake::vacuum::first_period_kept(1, now), "2024-06");
    // Two years kept: from 2023-06, so nothing of 2024 goes.
    let two = Retention { person_level_years: Some(2), ..retention(Duration::days(7)) };
    assert!(vacuum(&lake, &two, now, true).await.unwrap().expired.is_empty());
    assert_eq!(lake.snapshot().await.unwrap().version, 14);

    let one = Retention { person_level_years: Some(1), ..retention(Duration::days(7)) };
    let listed = vacuum(&lake, &one, now, false).await.unwrap();
    let mut old: Vec<String> = before
        .files
        .keys()
        .filter(|p| ["01", "02", "03", "04", "05"].iter().any(|m| p.contains(&format!("period=2024-{m}/"))))
        .cloned()
        .collect();
    old.sort();
    assert_eq!(old.len(), 5);
    let mut expired = listed.expired.clone();
    expired.sort();
    assert_eq!(expired, old, "January to May 2024");
    assert_eq!(lake.snapshot().await.unwrap().version, 14, "listing commits nothing");

    let done = vacuum(&lake, &one, now, true).await.unwrap();
    assert_eq!(done.committed, Some(15));
    let after = lake.snapshot().await.unwrap();
    assert_eq!(after.files.len(), 7, "June to December 2024 stay");
    assert!(old.iter().all(|p| !after.files.contains_key(p)));
    assert_eq!((after.published.clone(), after.digest.clone()), (before.published.clone(), before.digest.clone()));
    assert_eq!(after.deliveries.len(), before.deliveries.len(), "the deliveries' records stay");
    // Their bytes stay while a kept snapshot (version 14, committed within 7 days of the commit)
    // reads them.
    for path in before.files.keys() {
        assert!(exists(dir.path(), path), "{path}");
    }
}
