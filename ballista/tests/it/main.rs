//! The published-table build on a Ballista cluster whose scheduler and executor are separate
//! processes (the `lms-ballista` binary), against a local build of the same lake version.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use lms_etl::{Etl, EtlOptions, Source};
use lms_queries::publish::{BuildOptions, BuildSession, build};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Reference, Rhf};

const BIN: &str = env!("CARGO_BIN_EXE_lms-ballista");

/// A scheduler and an executor, killed when dropped; their logs in `dir`.
struct Cluster {
    children: Vec<Child>,
    url: String,
    work_dir: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    fn logs(&self) -> String {
        ["scheduler.log", "executor.log"]
            .iter()
            .map(|f| format!("--- {f}\n{}", std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default()))
            .collect()
    }
}

/// A port free now (Ballista's processes take fixed ports, not port 0).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(args: &[&str], log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(BIN)
        .args(args)
        .env("LMS_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("lms-ballista starts")
}

async fn start_cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().join("work");
    std::fs::create_dir_all(&work_dir).unwrap();
    let (scheduler, flight, grpc) = (free_port(), free_port(), free_port());
    let scheduler_addr = format!("127.0.0.1:{scheduler}");
    let mut children = vec![spawn(&["scheduler", "--bind", &scheduler_addr], &dir.path().join("scheduler.log"))];
    children.push(spawn(
        &[
            "executor",
            "--scheduler",
            &scheduler_addr,
            "--port",
            &flight.to_string(),
            "--grpc-port",
            &grpc.to_string(),
            "--work-dir",
            work_dir.to_str().unwrap(),
            "--concurrent-tasks",
            "2",
        ],
        &dir.path().join("executor.log"),
    ));
    let cluster = Cluster { children, url: format!("df://{scheduler_addr}"), work_dir, dir };
    // Ready when both listen and a query runs on the executor.
    let deadline = Instant::now() + Duration::from_secs(60);
    for port in [scheduler, flight, grpc] {
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "port {port} not listening\n{}", cluster.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let ctx = lms_ballista::session(&cluster.url, None).await.unwrap();
    let one = tokio::time::timeout(Duration::from_secs(60), async { ctx.sql("SELECT 1").await?.collect().await }).await;
    assert!(matches!(one, Ok(Ok(_))), "a first query on the cluster: {one:?}\n{}", cluster.logs());
    cluster
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
        lake: lms_etl::open_lake(&url).unwrap(),
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
    let lake = lms_lake::open(&url).unwrap();
    let snapshot = lake.snapshot().await.unwrap();
    let local = build(&url, &lake, &snapshot, &BuildOptions { target_partitions: Some(2), ..BuildOptions::default() })
        .await
        .unwrap();
    assert!(local.cells.len() > 1000, "a lake with figures: {} cells", local.cells.len());
    assert!(local.suppression.primary > 0, "some cells are suppressed");

    let cluster = start_cluster().await;
    let jobs_before = jobs(&cluster.work_dir);
    // Other partitioning than the local build: the tables do not depend on it.
    let session = lms_ballista::session(&cluster.url, Some(3)).await.unwrap();
    let options = BuildOptions { memory_limit: None, session: Some(BuildSession(session)), ..BuildOptions::default() };
    let remote = build(&url, &lake, &snapshot, &options).await;
    let remote = match remote {
        Ok(r) => r,
        Err(e) => panic!("build on Ballista: {e}\n{}", cluster.logs()),
    };
    // The plans ran on the executor: it wrote shuffle files for many jobs (the prelude's views,
    // every indicator, variation, data quality).
    let ran = jobs(&cluster.work_dir) - jobs_before;
    assert!(ran >= 30, "jobs run on the executor: {ran}\n{}", cluster.logs());

    assert_eq!(remote.digest, local.digest);
    assert_eq!(remote.cells.len(), local.cells.len());
    assert_eq!(remote.suppression.primary, local.suppression.primary);
    assert_eq!(remote.suppression.secondary, local.suppression.secondary);
    assert_eq!(remote.indicator_values, local.indicator_values);
    assert_eq!(remote.variation, local.variation);
    assert!(rows(&remote.data_quality) > 0);
    assert_eq!(remote.data_quality, local.data_quality);
}

/// `lms-ballista publish` commits a version whose published tables carry the local build's digest,
/// and `lms-ballista build` reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lms_ballista_publish_commits_the_local_builds_digest() {
    let dir = tempfile::tempdir().unwrap();
    let url = lake(dir.path()).await;
    let lake = lms_lake::open(&url).unwrap();
    let before = lake.snapshot().await.unwrap();
    let local = build(&url, &lake, &before, &BuildOptions::default()).await.unwrap();

    let cluster = start_cluster().await;
    let cli = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .args(["--scheduler", &cluster.url, "--lake", &url])
            .env("LMS_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}\n{}", String::from_utf8_lossy(&out.stderr), cluster.logs());
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let built = cli(&["build"]);
    assert_eq!(built["digest"], local.digest.as_str());
    assert_eq!(built["version"], before.version);
    assert_eq!(built["cells"], local.cells.len());

    let published = cli(&["publish"]);
    assert_eq!(published["version"], before.version + 1);
    let after = lms_lake::open(&url).unwrap().snapshot().await.unwrap();
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.digest.as_deref(), Some(local.digest.as_str()));
    assert!(after.table_files("indicator_values").count() == 1);
}
