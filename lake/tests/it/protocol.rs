//! Versions: one writer per version, recognising one's own commit, replay.

use lms_lake::Snapshot;

use crate::{commit, lake_in};

#[tokio::test]
async fn only_one_writer_wins_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(dir.path());
    assert!(lake.try_commit(&commit(1, "a")).await.unwrap());
    assert!(!lake.try_commit(&commit(1, "b")).await.unwrap(), "version 1 is taken");
    assert!(lake.try_commit(&commit(1, "a")).await.unwrap(), "a writer recognises its own commit by run id");
    assert_eq!(lake.snapshot().await.unwrap().version, 1);
    assert_eq!(lake.newest_version().await.unwrap(), Some(1));
}

#[tokio::test]
async fn a_snapshot_is_the_replay_of_its_commits() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(dir.path());
    assert_eq!(lake.snapshot().await.unwrap(), Snapshot::default(), "an empty lake");
    assert_eq!(lake.newest_version().await.unwrap(), None);
    for v in 1..=14 {
        assert!(lake.try_commit(&commit(v, "r")).await.unwrap());
    }
    let s = lake.snapshot().await.unwrap();
    assert_eq!(s.version, 14);
    // Twelve months live; versions 13 and 14 replaced the files of versions 1 and 2.
    assert_eq!(s.files.len(), 12);
    assert!(!s.files.contains_key("activity/rhf=HV/period=2024-01/v1.parquet"));
    assert!(s.files.contains_key("activity/rhf=HV/period=2024-01/v13.parquet"));
    assert_eq!(s.removed.len(), 2);
    // 14 loaded deliveries and 2 rejected ones (versions 5 and 10); a period is filled by its newest.
    assert_eq!(s.deliveries.len(), 16);
    assert_eq!(s.processed.len(), 16);
    assert_eq!(s.periods.len(), 12);
    let jan = s.periods.values().find(|d| d.period.as_deref() == Some("2024-01")).unwrap();
    assert_eq!(jan.version, Some(13));
    // Published by version 12 (the newest multiple of 3).
    assert_eq!(s.published.as_deref(), Some("defs-2"));
    assert_eq!(s.digest.as_deref(), Some("digest-12"));
}

#[tokio::test]
async fn a_gap_in_the_log_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(dir.path());
    for v in [1, 2, 4] {
        assert!(lake.try_commit(&commit(v, "r")).await.unwrap());
    }
    let e = lake.snapshot().await.unwrap_err().to_string();
    assert!(e.contains("skips from version 2 to 4"), "{e}");
}
