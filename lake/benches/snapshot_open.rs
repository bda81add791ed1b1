//! Opening a lake (`Lake::snapshot`) as its log grows, with and without checkpoints.
//!
//! `cargo bench -p lms-lake --bench snapshot_open [-- 19 109 1009 10009]`: for each number of
//! commits, builds a local lake whose commits each load one delivery (a data file and its
//! delivery record), once with the newest checkpoint the ETL would have written and once without
//! any, and the same content as one commit (the cost of the content alone), and prints the median
//! of 7 opens of each.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use lms_lake::{CHECKPOINT_INTERVAL, Commit, DataFile, DeliveryRecord, Lake, Snapshot};

fn commit(version: u64) -> Commit {
    let period = format!("{}-{:02}", 2000 + (version - 1) / 12, (version - 1) % 12 + 1);
    let path = format!("activity/rhf=HV/period={period}/v{version}.parquet");
    let delivery = DeliveryRecord {
        source: "hv".into(),
        file: format!("HV_aktivitet_{period}.csv"),
        sha256: format!("{version:064x}"),
        size: 1 << 20,
        rhf: Some("HV".into()),
        extract: Some("activity".into()),
        period: Some(period.clone()),
        version: Some(1),
        status: lms_lake::DeliveryStatus::Loaded,
        rows_read: 1000,
        rows_loaded: 998,
        rows_rejected: 2,
        rejected_by_rule: BTreeMap::from([("kommune_unknown".to_string(), 2)]),
        rule: None,
        message: None,
        unknown_columns: vec![],
        run_id: format!("run{version}"),
        processed_at: Utc::now(),
        data_files: vec![path.clone()],
    };
    let file = DataFile {
        path,
        table: "activity".into(),
        rhf: Some("HV".into()),
        period: Some(period),
        rows: 998,
        bytes: 1 << 19,
    };
    Commit {
        version,
        run_id: format!("run{version}"),
        committed_at: Utc::now(),
        add: vec![file],
        remove: vec![],
        deliveries: vec![delivery],
        published: Some("defs".into()),
        digest: Some(format!("{version:016x}")),
        key_id: None,
        renamed: vec![],
    }
}

/// A lake of `commits` commits; the same lake with the checkpoint the ETL would have left newest
/// (at the last multiple of [`CHECKPOINT_INTERVAL`]; the bench sizes leave the most commits after
/// it that a reader ever applies); and a lake of the same content in one commit, which is what
/// opening costs without any log to replay.
async fn build(dir: &std::path::Path, commits: u64) -> [Lake; 3] {
    let open = |name: &str| lms_lake::Lake::open(&format!("file://{}", dir.join(name).display())).unwrap();
    let (checkpointed, log_only, one_commit) = (open("checkpointed"), open("log-only"), open("one-commit"));
    let mut snapshot = Snapshot::default();
    let mut all = commit(1);
    for v in 1..=commits {
        let c = commit(v);
        assert!(log_only.try_commit(&c).await.unwrap());
        assert!(checkpointed.try_commit(&c).await.unwrap());
        snapshot.apply(&c);
        if v == commits / CHECKPOINT_INTERVAL * CHECKPOINT_INTERVAL {
            checkpointed.write_checkpoint(&snapshot).await.unwrap();
        }
        if v > 1 {
            all.add.extend(c.add);
            all.deliveries.extend(c.deliveries);
        }
    }
    assert!(one_commit.try_commit(&all).await.unwrap());
    [checkpointed, log_only, one_commit]
}

async fn median_open(lake: &Lake, version: u64) -> Duration {
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let s = lake.snapshot().await.unwrap();
        times.push(t.elapsed());
        assert_eq!(s.version, version);
    }
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let sizes: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![19, 109, 1009, 10_009] } else { sizes };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    println!("| commits | open, checkpoint | open, log only | the same content in one commit |");
    println!("|---:|---:|---:|---:|");
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let [with, without, one] = rt.block_on(async {
            let [with, without, one] = build(dir.path(), n).await;
            [median_open(&with, n).await, median_open(&without, n).await, median_open(&one, 1).await]
        });
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!("| {n} | {:.2} ms | {:.2} ms | {:.2} ms |", ms(with), ms(without), ms(one));
    }
}
