//! Fault injection through an object store wrapper, and concurrent writers.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::BoxStream;
use lms_etl::{Etl, Source};
use lms_schemas::Rhf;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};

use crate::common::{etl_at, incoming_with, listing, sources};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    List,
    Get,
    /// A put (or multipart upload) of a data file.
    PutData,
    /// The conditional put of a commit.
    PutCommit,
}

/// Fails the first call of one kind, once (or every call, with `always`).
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    fault: Mutex<Option<Op>>,
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>, fault: Option<Op>) -> Arc<FaultyStore> {
        Arc::new(FaultyStore { inner, fault: Mutex::new(fault) })
    }

    fn trip(&self, op: Op) -> object_store::Result<()> {
        let mut f = self.fault.lock().unwrap();
        if *f == Some(op) {
            *f = None;
            return Err(object_store::Error::Generic {
                store: "faulty",
                source: format!("injected {op:?} failure").into(),
            });
        }
        Ok(())
    }

    fn fired(&self) -> bool {
        self.fault.lock().unwrap().is_none()
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.trip(if location.as_ref().starts_with("_log") { Op::PutCommit } else { Op::PutData })?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.trip(Op::PutData)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.trip(Op::Get)?;
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.trip(Op::List)?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Sources over `incoming`, each behind a faulty store for source-side faults.
fn faulty_sources(incoming: &std::path::Path, fault: Option<Op>) -> (Vec<Source>, Vec<Arc<FaultyStore>>) {
    let mut stores = Vec::new();
    let sources = Rhf::ALL
        .iter()
        .map(|r| {
            let local = object_store::local::LocalFileSystem::new_with_prefix(incoming.join(r.code())).unwrap();
            // Only the first region's source fails; a pass is all or nothing, so that is enough.
            let f = if *r == Rhf::Hso { fault } else { None };
            let store = FaultyStore::new(Arc::new(local), f);
            stores.push(store.clone());
            Source::with_store(&r.code().to_lowercase(), *r, store, Path::default())
        })
        .collect();
    (sources, stores)
}

fn faulty_lake(etl: &Etl, dir: &std::path::Path, fault: Option<Op>) -> (Etl, Arc<FaultyStore>) {
    let local = object_store::local::LocalFileSystem::new_with_prefix(dir.join("lake")).unwrap();
    let store = FaultyStore::new(Arc::new(local), fault);
    let mut etl = etl.clone();
    etl.lake = lms_etl::Lake::on_store(
        store.clone(),
        Path::default(),
        lms_etl::lake::Location::File { dir: dir.join("lake") },
    );
    (etl, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_at_any_step_leaves_the_previous_version_and_the_next_run_completes() {
    for op in [Op::List, Op::Get, Op::PutData, Op::PutCommit] {
        let dir = tempfile::tempdir().unwrap();
        // Version 1: January; then February arrives and its pass fails at `op`.
        let incoming = incoming_with(dir.path(), |p| p.contains("2024-01"));
        let etl = etl_at(dir.path());
        assert_eq!(etl.run(&sources(&incoming)).await.unwrap().version, Some(1));
        let committed = etl.lake.snapshot().await.unwrap();
        let incoming = incoming_with(dir.path(), |p| p.contains("2024-01") || p.contains("2024-02"));

        let (lake_op, source_op) = match op {
            Op::List | Op::Get => (None, Some(op)),
            _ => (Some(op), None),
        };
        let (faulty_etl, lake_store) = faulty_lake(&etl, dir.path(), lake_op);
        let (srcs, source_stores) = faulty_sources(&incoming, source_op);
        let failed = faulty_etl.run(&srcs).await;
        assert!(failed.is_err(), "{op:?}: the pass fails");
        assert!(lake_store.fired() && source_stores[0].fired(), "{op:?}: the fault was hit");
        let after = etl.lake.snapshot().await.unwrap();
        assert_eq!(after.version, committed.version, "{op:?}: still the previous version");
        assert_eq!(after.files, committed.files, "{op:?}: the same live files");
        let runs = etl.lake.runs().await.unwrap();
        assert!(
            runs.iter().any(|r| r.status == lms_etl::lake::RunStatus::Failed && r.error.is_some()),
            "{op:?}: the failure is recorded"
        );

        // The next pass completes the work, and leaves no garbage behind.
        let report = etl.run(&sources(&incoming)).await.unwrap();
        assert_eq!(report.version, Some(2), "{op:?}");
        let done = etl.lake.snapshot().await.unwrap();
        let february = done.deliveries.iter().filter(|d| d.file.contains("2024-02")).count();
        assert_eq!(february, incoming_count(&incoming, "2024-02"), "{op:?}: every February file once");
        let live: std::collections::BTreeSet<String> = done.files.keys().cloned().collect();
        let on_disk: std::collections::BTreeSet<String> =
            listing(&dir.path().join("lake")).into_keys().filter(|p| p.ends_with(".parquet")).collect();
        assert_eq!(on_disk, live, "{op:?}: unreferenced files were collected");
    }
}

fn incoming_count(incoming: &std::path::Path, period: &str) -> usize {
    Rhf::ALL
        .iter()
        .map(|r| {
            std::fs::read_dir(incoming.join(r.code()))
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(period))
                .count()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_runs_load_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |p| p.contains("2024-0"));
    let mut a = etl_at(dir.path());
    // The grace period keeps one writer's garbage collection off the other's uncommitted files.
    a.options.garbage_grace = chrono::Duration::hours(1);
    let b = a.clone();
    let (srcs_a, srcs_b) = (sources(&incoming), sources(&incoming));
    let (ra, rb) = tokio::join!(a.run(&srcs_a), b.run(&srcs_b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let committed: Vec<u64> = [ra.version, rb.version].into_iter().flatten().collect();
    assert!(!committed.is_empty());
    let snapshot = a.lake.snapshot().await.unwrap();
    // Each delivery is recorded once, whoever committed it.
    let mut keys: Vec<_> = snapshot.deliveries.iter().map(|d| d.processed_key()).collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "no delivery recorded twice");
    assert_eq!(n, incoming_count(&incoming, "2024-0"));
    // Rows are not doubled: live rows per period equal the filling delivery's loaded rows.
    for (key, d) in &snapshot.periods {
        let rows: u64 = d.data_files.iter().map(|p| snapshot.files[p].rows).sum();
        assert_eq!(rows, d.rows_loaded, "{key:?}");
        let live_in_period: u64 = snapshot
            .table_files(&key.extract)
            .filter(|f| f.rhf.as_deref() == Some(&key.rhf) && f.period.as_deref() == Some(&key.period))
            .map(|f| f.rows)
            .sum();
        assert_eq!(live_in_period, d.rows_loaded, "{key:?}: one delivery's rows");
    }
}
