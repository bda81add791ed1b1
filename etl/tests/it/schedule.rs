//! The scheduler: cadence without overlap, retries, catching up a missed tick.

use std::sync::Arc;
use std::time::Duration;

use lms_etl::schedule::{RetryPolicy, Scheduled, run_with_retries, spawn};
use lms_etl::{Etl, Source};
use lms_schemas::Rhf;
use object_store::path::Path;

use crate::common::{etl_at, incoming_with};
use crate::faults::{FaultyStore, Op};

fn hn_source(incoming: &std::path::Path, fault: Option<Op>) -> Source {
    let local = object_store::local::LocalFileSystem::new_with_prefix(incoming.join("HN")).unwrap();
    Source::with_store("hn", Rhf::Hn, FaultyStore::new(Arc::new(local), fault), Path::default())
}

async fn runs_of(etl: &Etl, source: &str) -> Vec<lms_etl::RunRecord> {
    etl.lake.runs().await.unwrap().into_iter().filter(|r| r.source == source).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_runs_on_its_schedule_and_never_overlaps_itself() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |p| p.starts_with("HN/") && p.contains("2024-0"));
    let etl = etl_at(dir.path());
    let every_second = Scheduled::new(hn_source(&incoming, None), "* * * * * *").unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = spawn(etl.clone(), vec![every_second], RetryPolicy::default(), stopped);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    stop.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let runs = runs_of(&etl, "hn").await;
    assert!(runs.len() >= 3, "a catch-up run at start and one a second after: {}", runs.len());
    for pair in runs.windows(2) {
        assert!(pair[1].started_at >= pair[0].ended_at, "runs overlap: {pair:?}");
    }
    assert_eq!(runs[0].status, lms_etl::lake::RunStatus::Succeeded);
    assert!(runs[1..].iter().all(|r| r.status == lms_etl::lake::RunStatus::NothingNew), "later ticks find nothing new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_pass_is_retried_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |p| p.starts_with("HN/") && p.contains("2024-01"));
    let etl = etl_at(dir.path());
    let retry = RetryPolicy { attempts: 3, base: Duration::from_millis(20), max: Duration::from_millis(100) };
    let source = hn_source(&incoming, Some(Op::List));
    let report = run_with_retries(&etl, &source, retry).await.unwrap();
    assert_eq!(report.version, Some(1));
    let runs = runs_of(&etl, "hn").await;
    let statuses: Vec<&str> = runs.iter().map(|r| r.status.name()).collect();
    assert_eq!(statuses, ["failed", "succeeded"]);
    let gap = runs[1].started_at - runs[0].ended_at;
    assert!(gap >= chrono::Duration::milliseconds(10), "waited half the base at least: {gap}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let etl = etl_at(dir.path());
    let missing = Source::new("gone", Rhf::Hv, None, "https://127.0.0.1:9/nothing/").unwrap();
    let retry = RetryPolicy { attempts: 3, base: Duration::from_millis(5), max: Duration::from_millis(10) };
    assert!(run_with_retries(&etl, &missing, retry).await.is_err());
    let runs = runs_of(&etl, "gone").await;
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(
        |r| r.status == lms_etl::lake::RunStatus::Failed && r.error.as_deref().is_some_and(|e| e.contains("gone"))
    ));
    assert_eq!(etl.lake.snapshot().await.unwrap().version, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_tick_is_caught_up_once_at_start() {
    let daily =
        Scheduled::new(Source::new("x", Rhf::Hv, None, "https://127.0.0.1:9/x/").unwrap(), "0 0 3 * * *").unwrap();
    let now = chrono::Utc::now();
    assert!(daily.missed(None, now), "a source that never ran runs at start");
    assert!(daily.missed(Some(now - chrono::Duration::days(2)), now));
    assert!(!daily.missed(Some(now), now));

    // A source whose last run was two days ago: one run at start, then none until the next 03:00.
    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |p| p.starts_with("HN/") && p.contains("2024-01"));
    let etl = etl_at(dir.path());
    let old = lms_etl::RunRecord {
        run_id: "old".into(),
        source: "hn".into(),
        started_at: now - chrono::Duration::days(2),
        ended_at: now - chrono::Duration::days(2),
        status: lms_etl::lake::RunStatus::Succeeded,
        version: None,
        files: 0,
        files_rejected: 0,
        rows_read: 0,
        rows_loaded: 0,
        rows_rejected: 0,
        rejected_by_rule: Default::default(),
        error: None,
    };
    etl.lake.record_run(&old).await.unwrap();
    let scheduled = Scheduled::new(hn_source(&incoming, None), "0 0 3 * * *").unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = spawn(etl.clone(), vec![scheduled], RetryPolicy::default(), stopped);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let runs = runs_of(&etl, "hn").await;
    assert_eq!(runs.len(), 2, "the old run and one catch-up");
    assert_eq!(runs[1].status, lms_etl::lake::RunStatus::Succeeded);
}
