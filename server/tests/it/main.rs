//! The server over real HTTP on a random loopback port, against a lake the real ETL built from the
//! demo data (one small year of the four regions). One test binary for the crate.

mod abuse;
mod access;
mod availability;
mod browser;
mod dashboards;
mod downloads;
mod endpoints;
mod flight;
mod postgres;
mod prometheus;
mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use lms_etl::{Etl, EtlOptions, Source};
use lms_queries::IndicatorPublisher;
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Reference, Rhf};
use lms_server::{AppState, ServerOptions, Token, Tokens};

/// The lake every test reads, built once: `file://…` URL.
/// This crate's directory, read when the test runs (cargo sets it): `env!` would keep the path of
/// whichever checkout compiled the test, which a shared target directory can make another one.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
}

pub fn lake_url() -> &'static str {
    static LAKE: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    &LAKE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let reference = Arc::new(Reference::embedded().unwrap());
            let options =
                lms_generate::Options { seed: 7, first_year: 2023, last_year: 2024, scale: 0.02, codes_of_2024: false };
            lms_generate::generate(&dir.path().join("in"), &options, &reference).unwrap();
            std::fs::create_dir_all(dir.path().join("lake")).unwrap();
            let url = format!("file://{}", dir.path().join("lake").display());
            // Tests run inside a runtime, which cannot block on another: build on a thread of its own.
            let (dir_path, url2) = (dir.path().to_path_buf(), url.clone());
            std::thread::spawn(move || {
                let dir = &dir_path;
                let url = url2;
                let runtime = tokio::runtime::Runtime::new().unwrap();
                runtime.block_on(async {
                    let etl = Etl {
                        lake: lms_lake::Lake::open(&url).unwrap(),
                        reference,
                        key: PseudonymKey::from_hex(&"05".repeat(32)).unwrap(),
                        options: EtlOptions::default(),
                        // A target on the size-class rate, so the page and the API have one to show.
                        publisher: Some(Arc::new(IndicatorPublisher::new(lms_queries::publish::BuildOptions {
                            min_count: 5,
                            targets: vec![size_class_target()],
                            ..Default::default()
                        }))),
                    };
                    let sources: Vec<Source> = [("hso", Rhf::Hso), ("hv", Rhf::Hv), ("hmn", Rhf::Hmn), ("hn", Rhf::Hn)]
                        .into_iter()
                        .map(|(name, rhf)| {
                            let path: PathBuf = dir.join("in").join(rhf.code());
                            Source::new(name, rhf, None, &format!("file://{}", path.display())).unwrap()
                        })
                        .collect();
                    etl.run(&sources).await.unwrap();
                });
            })
            .join()
            .unwrap();
            (dir, url)
        })
        .1
}

/// The secrets of the test tokens, one per role.
/// The fixture's target: `education_rate_by_size_class` is good at 0.25 per 1 000 or more,
/// acceptable from 0.23.
pub fn size_class_target() -> lms_queries::target::Target {
    lms_queries::target::Target {
        indicator: "education_rate_by_size_class".into(),
        better: lms_queries::target::Better::Higher,
        good: 0.25,
        acceptable: 0.23,
    }
}

pub const DASHBOARD: &str = "dash-secret";
pub const CONTROLLER: &str = "ctrl-secret";
pub const ANALYST: &str = "analyst-secret";

pub fn tokens() -> Tokens {
    Tokens(vec![
        Token::new("grafana", "dashboard", &Token::hash(DASHBOARD)).unwrap(),
        Token::new("controller", "controller", &Token::hash(CONTROLLER)).unwrap(),
        Token::new("analyst", "analyst", &Token::hash(ANALYST)).unwrap(),
    ])
}

/// A server on 127.0.0.1:0 over `lake`, until the returned sender is dropped.
pub async fn start(options: ServerOptions) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let state = Arc::new(AppState::new(options).unwrap());
    // Load before serving, so the tests need not wait for readiness (an empty lake stays unready).
    state.refresh().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(lms_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Options with the test tokens over the shared lake.
pub fn options() -> ServerOptions {
    let mut o = ServerOptions::new(lake_url());
    o.tokens = tokens();
    o
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// GET `path` with `token` (if any): status, headers, body.
pub async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = client().get(format!("http://{addr}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

/// Whether `program args` runs and succeeds; if not, says that `what` skipped for want of `missing`.
fn runs(program: &str, args: &[&str], what: &str, missing: &str) -> bool {
    let found = std::process::Command::new(program).args(args).output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED {what}: {missing} (.ci/run installs it)");
    }
    found
}

/// Whether a program is on the PATH; says so when a test skips for want of it.
pub fn have(program: &str, what: &str) -> bool {
    runs("sh", &["-c", &format!("command -v {program}")], what, &format!("`{program}` is not installed"))
}

/// Runs the Python client `script` of this directory with `args`; what it prints, as JSON.
pub async fn python_json(script: &str, args: Vec<String>) -> serde_json::Value {
    let script = manifest_dir().join("tests/it").join(script);
    let out =
        tokio::task::spawn_blocking(move || std::process::Command::new("python3").arg(script).args(args).output())
            .await
            .unwrap()
            .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

/// Whether python3 can import `module`; says so when a test skips for want of it.
pub fn have_python(module: &str, what: &str) -> bool {
    runs("python3", &["-c", &format!("import {module}")], what, &format!("python3 cannot import `{module}`"))
}
