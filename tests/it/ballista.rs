//! The published-table build on a Ballista cluster (`lms-ballista`'s scheduler and executor, run in
//! this process), against a local build of the same lake version. Here, not in `lms-ballista`'s own
//! tests: making a lake needs the ETL, which `lms-ballista` does not depend on.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use lms_etl::{Etl, EtlOptions, Source};
use lms_queries::publish::{BuildOptions, BuildSession, build};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Reference, Rhf};

/// A scheduler and an executor of this process, each on a runtime of its own with the stack the
/// `lms-ballista` binary gives its threads (plans are (de)serialised recursively); shared by the
/// tests, and ended with the process.
struct Cluster {
    url: String,
    work_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// A port free now (Ballista's servers take fixed ports, not port 0).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn on_own_runtime(
    name: &str,
    task: impl std::future::Future<Output = Result<(), lms_ballista::BallistaError>> + Send + 'static,
) {
    let name = name.to_string();
    std::thread::Builder::new()
        .name(name.clone())
        .stack_size(64 << 20)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .worker_threads(2)
                .thread_stack_size(64 << 20)
                .build()
                .unwrap();
            if let Err(e) = runtime.block_on(task) {
                eprintln!("{name}: {e}");
            }
        })
        .unwrap();
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let work_dir = dir.path().join("work");
        std::fs::create_dir_all(&work_dir).unwrap();
        let (scheduler, flight, grpc) = (free_port(), free_port(), free_port());
        let scheduler_addr: std::net::SocketAddr = format!("127.0.0.1:{scheduler}").parse().unwrap();
        on_own_runtime("scheduler", lms_ballista::scheduler(scheduler_addr));
        let options = lms_ballista::ExecutorOptions {
            scheduler: ("127.0.0.1".into(), scheduler),
            bind_host: "127.0.0.1".into(),
            port: flight,
            grpc_port: grpc,
            work_dir: Some(work_dir.to_str().unwrap().into()),
            concurrent_tasks: Some(2),
        };
        on_own_runtime("executor", lms_ballista::executor(options));
        // Ready when both listen.
        let deadline = Instant::now() + Duration::from_secs(60);
        for port in [scheduler, flight, grpc] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "port {port} not listening");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Cluster { url: format!("df://{scheduler_addr}"), work_dir, _dir: dir }
    })
}

/// A session on the cluster once a first query has run on its executor.
async fn session(partitions: Option<usize>) -> datafusion::prelude::SessionContext {
    let ctx = lms_ballista::session(&cluster().url, partitions).await.unwrap();
    let one = tokio::time::timeout(Duration::from_secs(60), async { ctx.sql("SELECT 1").await?.collect().await }).await;
    assert!(matches!(one, Ok(Ok(_))), "a first query on the cluster: {one:?}");
    ctx
}

/// A lake of two small years of Helse Vest's and Helse Nord's demo deliveries.
async fn lake(dir: &Path) -> String {
    let reference = Arc::new(Reference::embedded().unwrap());
    let options =
        lms_generate::Options { seed: 11, first_year: 2023, last_year: 2024, scale: 0.02, codes_of_2024: false };
    lms_generate::generate(&dir.join("in"), &options, &reference).unwrap();
    let url = format!("file://{}", dir.join("lake").display());
    std::fs::create_dir_all(dir.join("lake")).unwrap();
    let etl = Etl {
        lake: lms_lake::Lake::open(&url).unwrap(),
        reference,
        key: PseudonymKey::from_hex(&"02".repeat(32)).unwrap(),
        options: EtlOptions::default(),
        publisher: None,
    };
    let sources: Vec<Source> = [("hv", Rhf::Hv, "HV"), ("hn", Rhf::Hn, "HN")]
        .into_iter()
        .map(|(name, rhf, folder)| {
            Source::new(name, rhf, None, &format!("file://{}", dir.join("in").join(folder).display())).unwrap()
        })
        .collect();
    etl.run(&sources).await.unwrap();
    url
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// Job directories the executor wrote shuffle files into.
fn jobs(work_dir: &Path) -> usize {
    std::fs::read_dir(work_dir).map(|d| d.filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir())).count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_tables_built_on_ballista_equal_a_local_build() {
    let dir = tempfile::tempdir().unwrap();
    let url = lake(dir.path()).await;
    let lake = lms_lake::Lake::open(&url).unwrap();
    let snapshot = lake.snapshot().await.unwrap();
    let local =
        build(&lake, &snapshot, &BuildOptions { target_partitions: Some(2), ..BuildOptions::default() }).await.unwrap();
    assert!(local.cells.len() > 1000, "a lake with figures: {} cells", local.cells.len());
    assert!(local.suppression.primary > 0, "some cells are suppressed");

    // Other partitioning than the local build: the tables do not depend on it.
    let session = session(Some(3)).await;
    let jobs_before = jobs(&cluster().work_dir);
    let options = BuildOptions { memory_limit: None, session: Some(BuildSession(session)), ..BuildOptions::default() };
    let remote = build(&lake, &snapshot, &options).await.unwrap();
    // The plans ran on the executor: it wrote shuffle files for many jobs (the prelude's views,
    // every indicator, variation, data quality).
    let ran = jobs(&cluster().work_dir) - jobs_before;
    assert!(ran >= 30, "jobs run on the executor: {ran}");

    assert_eq!(remote.digest, local.digest);
    assert_eq!(remote.cells.len(), local.cells.len());
    assert_eq!(remote.suppression.primary, local.suppression.primary);
    assert_eq!(remote.suppression.secondary, local.suppression.secondary);
    assert_eq!(remote.indicator_values, local.indicator_values);
    assert_eq!(remote.variation, local.variation);
    assert!(rows(&remote.data_quality) > 0);
    assert_eq!(remote.data_quality, local.data_quality);
}

/// Publishing on the cluster commits a version whose published tables carry the local build's
/// digest, through the lake's transaction (no ETL, no key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_on_ballista_commits_the_local_builds_digest() {
    let dir = tempfile::tempdir().unwrap();
    let url = lake(dir.path()).await;
    let lake = lms_lake::Lake::open(&url).unwrap();
    let before = lake.snapshot().await.unwrap();
    let local = build(&lake, &before, &BuildOptions::default()).await.unwrap();

    let version = lms_ballista::publish(&lake, session(None).await, lms_queries::suppress::MIN_COUNT, false).await;
    assert_eq!(version.unwrap(), Some(before.version + 1));
    let after = lms_lake::Lake::open(&url).unwrap().snapshot().await.unwrap();
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.digest.as_deref(), Some(local.digest.as_str()));
    assert!(after.table_files("indicator_values").count() == 1);
}
