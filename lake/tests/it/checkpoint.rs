//! Checkpoints: the same snapshot as the replay from version 1, whatever state the checkpoint is in.

use lms_lake::{CHECKPOINT_INTERVAL, Lake, Snapshot};

use crate::{commit, lake_in};

/// Commits versions `1..=n` as the ETL does: each commit, then a checkpoint when one is due.
async fn commit_all(lake: &Lake, n: u64) -> Vec<u64> {
    let mut snapshot = Snapshot::default();
    let mut written = Vec::new();
    for v in 1..=n {
        let c = commit(v, "r");
        assert!(lake.try_commit(&c).await.unwrap());
        snapshot.apply(&c);
        if lake.checkpoint_if_due(&snapshot).await.unwrap() {
            written.push(v);
        }
    }
    written
}

/// The lake at `n` computed apart from the lake: the commits applied in memory from version 1.
fn replayed(n: u64) -> Snapshot {
    let mut s = Snapshot::default();
    for v in 1..=n {
        s.apply(&commit(v, "r"));
    }
    s
}

fn log_dir(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("lake").join("_log")
}

#[tokio::test]
async fn a_checkpoint_is_written_every_interval_and_read_as_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(dir.path());
    let n = 2 * CHECKPOINT_INTERVAL + 5;
    assert_eq!(commit_all(&lake, n).await, vec![CHECKPOINT_INTERVAL, 2 * CHECKPOINT_INTERVAL]);
    assert!(log_dir(dir.path()).join(format!("{:020}.checkpoint.json", 2 * CHECKPOINT_INTERVAL)).exists());
    let last = std::fs::read_to_string(log_dir(dir.path()).join("_last_checkpoint")).unwrap();
    assert!(last.contains(&format!("{}", 2 * CHECKPOINT_INTERVAL)), "{last}");
    assert_eq!(lake.snapshot().await.unwrap(), replayed(n));
    assert_eq!(lake.newest_version().await.unwrap(), Some(n));
    assert_eq!(lake.versions().await.unwrap(), (1..=n).collect::<Vec<_>>(), "checkpoints are not versions");
}

#[tokio::test]
async fn opening_reads_the_checkpoint_and_only_the_commits_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(dir.path());
    let n = 2 * CHECKPOINT_INTERVAL + 3;
    commit_all(&lake, n).await;
    // Commits up to the checkpoint are no longer needed to open the lake: take them away.
    for v in 1..=2 * CHECKPOINT_INTERVAL {
        std::fs::remove_file(log_dir(dir.path()).join(format!("{v:020}.json"))).unwrap();
    }
    assert_eq!(lake.snapshot().await.unwrap(), replayed(n));
    assert_eq!(lake.newest_version().await.unwrap(), Some(n));
}

#[tokio::test]
async fn a_checkpoint_at_the_newest_version_opens_without_any_commit() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(dir.path());
    commit_all(&lake, CHECKPOINT_INTERVAL).await;
    for v in 1..=CHECKPOINT_INTERVAL {
        std::fs::remove_file(log_dir(dir.path()).join(format!("{v:020}.json"))).unwrap();
    }
    assert_eq!(lake.snapshot().await.unwrap(), replayed(CHECKPOINT_INTERVAL));
    assert_eq!(lake.newest_version().await.unwrap(), Some(CHECKPOINT_INTERVAL));
}

#[tokio::test]
async fn a_broken_or_missing_checkpoint_costs_time_not_content() {
    let n = 2 * CHECKPOINT_INTERVAL + 1;
    let expected = replayed(n);
    let checkpoint = format!("{:020}.checkpoint.json", 2 * CHECKPOINT_INTERVAL);
    type Damage = fn(&std::path::Path, &str);
    let damages: [(&str, Damage); 5] = [
        ("the checkpoint is truncated", |log, c| {
            let text = std::fs::read(log.join(c)).unwrap();
            std::fs::write(log.join(c), &text[..text.len() / 2]).unwrap();
        }),
        ("the checkpoint is gone", |log, c| std::fs::remove_file(log.join(c)).unwrap()),
        ("the pointer is garbage", |log, _| std::fs::write(log.join("_last_checkpoint"), b"{not json").unwrap()),
        ("the pointer is gone", |log, _| std::fs::remove_file(log.join("_last_checkpoint")).unwrap()),
        ("the pointer names a checkpoint of another version", |log, c| {
            let other = format!("{:020}.checkpoint.json", CHECKPOINT_INTERVAL);
            std::fs::copy(log.join(other), log.join(c)).unwrap();
        }),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake_in(dir.path());
        commit_all(&lake, n).await;
        damage(&log_dir(dir.path()), &checkpoint);
        assert_eq!(lake.snapshot().await.unwrap(), expected, "{what}");
        assert_eq!(lake.newest_version().await.unwrap(), Some(n), "{what}");
    }
}

#[tokio::test]
async fn a_checkpoint_keeps_what_deduplication_and_garbage_collection_need() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(dir.path());
    let n = 2 * CHECKPOINT_INTERVAL;
    commit_all(&lake, n).await;
    let s = lake.snapshot().await.unwrap();
    // Read from the checkpoint alone (no commit after it): the derived look-ups are rebuilt.
    assert_eq!(s.deliveries.len(), 24, "20 loaded and 4 rejected deliveries");
    assert_eq!(s.processed.len(), 24);
    assert_eq!(s.periods.len(), 12);
    assert_eq!(s.removed.len(), 8, "versions 1 to 8 were superseded");
    assert_eq!(s.removed.get("activity/rhf=HV/period=2024-01/v1.parquet"), Some(&commit(13, "r").committed_at));
}

/// The lake at an earlier version (`lms audit disclosure --version`): the same as the replay to it,
/// also where the commits before its checkpoint are gone, and from the start where no checkpoint
/// precedes it.
#[tokio::test]
async fn an_earlier_version_reads_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(dir.path());
    let n = 2 * CHECKPOINT_INTERVAL + 3;
    commit_all(&lake, n).await;
    for v in [3, CHECKPOINT_INTERVAL, CHECKPOINT_INTERVAL + 4, n] {
        assert_eq!(lake.snapshot_at(v).await.unwrap(), replayed(v), "version {v}");
    }
    for v in 1..=CHECKPOINT_INTERVAL {
        std::fs::remove_file(log_dir(dir.path()).join(format!("{v:020}.json"))).unwrap();
    }
    assert_eq!(lake.snapshot_at(CHECKPOINT_INTERVAL + 4).await.unwrap(), replayed(CHECKPOINT_INTERVAL + 4));
    assert!(lake.snapshot_at(3).await.is_err(), "its commits are gone and no checkpoint precedes it");
}
