//! Sources over HTTP and lakes and drops on a real S3-protocol server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use lms_etl::{Lake, Source};
use lms_schemas::Rhf;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{etl_at, incoming_with, sources};

/// A minimal HTTP/1.1 file server on loopback: `GET /dir/` lists the files as links (like an
/// autoindex page), `GET /dir/name` serves one. Returns its base URL.
async fn serve_directory(root: PathBuf) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let root = root.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let target = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let decoded = percent_encoding::percent_decode_str(&target).decode_utf8_lossy().to_string();
                let path = root.join(decoded.trim_start_matches('/'));
                let (status, body) = if path.is_dir() {
                    let mut names: Vec<String> = std::fs::read_dir(&path)
                        .unwrap()
                        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .collect();
                    names.sort();
                    let links: String = names
                        .iter()
                        .map(|n| {
                            let href = percent_encoding::utf8_percent_encode(n, percent_encoding::NON_ALPHANUMERIC);
                            format!("<li><a href=\"{href}\">{n}</a></li>\n")
                        })
                        .collect();
                    (
                        "200 OK",
                        format!("<html><body><a href=\"../\">..</a><ul>\n{links}</ul></body></html>").into_bytes(),
                    )
                } else if path.is_file() {
                    ("200 OK", std::fs::read(&path).unwrap())
                } else {
                    ("404 Not Found", b"not found".to_vec())
                };
                let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// Loaded deliveries as (file, rows loaded, rows rejected, status), for comparing two lakes.
async fn outcome(lake: &Lake) -> BTreeMap<String, (u64, u64, String)> {
    let s = lake.snapshot().await.unwrap();
    s.deliveries
        .iter()
        .map(|d| (d.file.clone(), (d.rows_loaded, d.rows_rejected, d.status.name().to_string())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_source_loads_what_a_file_source_loads() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |p| p.starts_with("HN/"));
    let base = serve_directory(incoming.clone()).await;

    let over_http = etl_at(&dir.path().join("http"));
    let source = Source::new("hn", Rhf::Hn, None, &format!("{base}/HN/")).unwrap();
    let report = over_http.run(std::slice::from_ref(&source)).await.unwrap();
    assert_eq!(report.version, Some(1));
    assert_eq!(over_http.run(&[source]).await.unwrap().version, None, "nothing new the second time");

    let from_files = etl_at(&dir.path().join("file"));
    let hn: Vec<Source> = sources(&incoming).into_iter().filter(|s| s.rhf == Rhf::Hn).collect();
    from_files.run(&hn).await.unwrap();
    let (a, b) = (outcome(&over_http.lake).await, outcome(&from_files.lake).await);
    assert!(a.len() > 30);
    assert_eq!(a, b);
}

/// A moto S3 server on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Option<Moto> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skipped: no moto_server ({e}); .ci/run installs it with `pip install 'moto[server]'`");
            return None;
        }
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Moto { child, endpoint });
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("moto_server did not start on port {port}");
}

fn s3_options(endpoint: &str) -> [(&str, &str); 5] {
    [
        ("aws_endpoint", endpoint),
        ("aws_allow_http", "true"),
        ("aws_access_key_id", "test"),
        ("aws_secret_access_key", "test"),
        ("aws_region", "us-east-1"),
    ]
}

fn s3(endpoint: &str, url: &str) -> (Arc<dyn ObjectStore>, object_store::path::Path) {
    let opened = lms_etl::lake::store::open_with(url, &s3_options(endpoint)).unwrap();
    (opened.store, opened.root)
}

async fn upload(store: &Arc<dyn ObjectStore>, prefix: &object_store::path::Path, dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        store.put(&prefix.clone().join(name.as_str()), PutPayload::from(std::fs::read(&p).unwrap())).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lake_and_drops_on_s3() {
    let Some(moto) = moto() else { return };
    let client = reqwest::Client::new();
    for bucket in ["lake", "drop-hv", "drop-hmn"] {
        let r = client.put(format!("{}/{bucket}", moto.endpoint)).send().await.unwrap();
        assert!(r.status().is_success(), "create bucket {bucket}: {}", r.status());
    }
    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |p| p.starts_with("HV/") || p.starts_with("HMN/"));
    let mut srcs = Vec::new();
    for rhf in [Rhf::Hv, Rhf::Hmn] {
        let (store, prefix) = s3(&moto.endpoint, &format!("s3://drop-{}/deliveries", rhf.code().to_lowercase()));
        upload(&store, &prefix, &incoming.join(rhf.code())).await;
        srcs.push(Source::with_store(&rhf.code().to_lowercase(), rhf, store, prefix));
    }
    let mut etl = etl_at(dir.path());
    etl.lake = Lake::open_with("s3://lake/lms", &s3_options(&moto.endpoint)).unwrap();
    let report = etl.run(&srcs).await.unwrap();
    assert_eq!(report.version, Some(1));
    assert_eq!(etl.run(&srcs).await.unwrap().version, None);

    // The same deliveries as from local files.
    let local = etl_at(&dir.path().join("local"));
    let file_sources: Vec<Source> =
        sources(&incoming).into_iter().filter(|s| matches!(s.rhf, Rhf::Hv | Rhf::Hmn)).collect();
    local.run(&file_sources).await.unwrap();
    assert_eq!(outcome(&etl.lake).await, outcome(&local.lake).await);

    // The commit protocol holds on S3: a version cannot be taken twice.
    let commit = |run: &str| crate::common::empty_commit(2, run);
    assert!(etl.lake.try_commit(&commit("x")).await.unwrap());
    assert!(!etl.lake.try_commit(&commit("y")).await.unwrap(), "the conditional put refused a second version 2");
}
