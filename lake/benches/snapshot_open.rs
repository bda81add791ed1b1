//! Opening a lake (`Lake::snapshot`) as its log grows, with and without checkpoints.
//!
//! `cargo bench -p lms-lake --bench snapshot_open [-- 10 100 1000 10000]`: for each number of
//! commits, builds a local lake whose commits each load one delivery (a data file, a delivery
//! record, every twelfth replacing an older file), once with the ETL's checkpoints and once
//! without, and prints the median of 7 opens of each.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use lms_lake::{Commit, DataFile, DeliveryRecord, Lake, Snapshot};

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
        status: "loaded".into(),
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
    }
}

async fn build(dir: &std::path::Path, commits: u64, checkpoints: bool) -> Lake {
    let lake = lms_lake::open(&format!("file://{}", dir.display())).unwrap();
    let mut snapshot = Snapshot::default();
    for v in 1..=commits {
        let c = commit(v);
        assert!(lake.try_commit(&c).await.unwrap());
        snapshot.apply(&c);
        if checkpoints {
            lake.checkpoint_if_due(&snapshot).await.unwrap();
        }
    }
    lake
}

async fn median_open(lake: &Lake, commits: u64) -> Duration {
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let s = lake.snapshot().await.unwrap();
        times.push(t.elapsed());
        assert_eq!(s.version, commits);
    }
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let sizes: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10, 100, 1000, 10_000] } else { sizes };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    println!("| commits | open, checkpoints | open, log only |");
    println!("|---:|---:|---:|");
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let (with, without) = rt.block_on(async {
            let with = build(&dir.path().join("checkpointed"), n, true).await;
            let without = build(&dir.path().join("log-only"), n, false).await;
            (median_open(&with, n).await, median_open(&without, n).await)
        });
        println!("| {n} | {:.2} ms | {:.2} ms |", with.as_secs_f64() * 1e3, without.as_secs_f64() * 1e3);
    }
}
