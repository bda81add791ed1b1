//! The access log over every channel of the server: each read is a line with the token's name
//! (never its secret), the role, the channel, the peer, what was asked, the tables and rows; a
//! refused read is a line too; the chain verifies; and when the log cannot be written, no answer is
//! sent.

use std::path::Path;
use std::sync::Arc;

use lms_lake::access::{self, AccessLine};
use lms_server::{AppState, ServerOptions};

use crate::{ANALYST, CONTROLLER, DASHBOARD, client, get, have, have_python, lake_url, tokens};

/// A copy of the shared lake (without its access log), so this test reads only its own lines.
fn copy_lake(to: &Path) -> String {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_name() == "_audit" {
                continue;
            }
            if e.path().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    copy(Path::new(lake_url().strip_prefix("file://").unwrap()), to);
    format!("file://{}", to.display())
}

/// HTTP, Flight SQL and the PostgreSQL protocol over one state: their addresses.
async fn start(o: ServerOptions) -> (std::net::SocketAddr, String, std::net::SocketAddr) {
    let state = Arc::new(AppState::new(o).unwrap());
    state.refresh().await.unwrap();
    let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
    let (http, flight, pg) = (bind().await.unwrap(), bind().await.unwrap(), bind().await.unwrap());
    let addrs =
        (http.local_addr().unwrap(), format!("grpc://{}", flight.local_addr().unwrap()), pg.local_addr().unwrap());
    tokio::spawn(lms_server::serve(http, state.clone(), std::future::pending()));
    tokio::spawn(lms_server::flight::serve(flight, state.clone(), std::future::pending()));
    tokio::spawn(lms_server::postgres::serve(pg, state, None, std::future::pending()));
    addrs
}

async fn post_sql(addr: std::net::SocketAddr, token: &str, sql: &str) -> (u16, String) {
    let r = client()
        .post(format!("http://{addr}/api/v1/sql"))
        .bearer_auth(token)
        .header("accept", "text/csv")
        .body(sql.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn the<'a>(lines: &'a [AccessLine], what: &str) -> &'a AccessLine {
    let found: Vec<&AccessLine> = lines.iter().filter(|l| l.read.what == what).collect();
    assert_eq!(found.len(), 1, "one line for {what}: {lines:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_channel_writes_its_reads_with_token_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let url = copy_lake(&dir.path().join("lake"));
    let mut o = ServerOptions::new(&url);
    o.tokens = tokens();
    let (http, flight, pg) = start(o).await;

    // HTTP: a value endpoint (JSON), its CSV, JSON-stat, SQL; a refusal and a too-low role.
    let values = "/api/v1/indicators/participants?level=national&breakdown=";
    let (status, _, body) = get(http, values, Some(DASHBOARD)).await;
    assert_eq!(status, 200);
    let served = serde_json::from_str::<serde_json::Value>(&body).unwrap().as_array().unwrap().len() as u64;
    let csv = "/api/v1/indicators/participants?level=rhf&format=csv";
    let (status, _, body) = get(http, csv, Some(CONTROLLER)).await;
    assert_eq!(status, 200);
    let csv_rows = body.lines().count() as u64 - 1;
    let jsonstat = "/api/v1/indicators/participants/jsonstat";
    assert_eq!(get(http, jsonstat, Some(DASHBOARD)).await.0, 200);
    let sql = "SELECT year, value FROM funnel ORDER BY year LIMIT 3";
    let (status, body) = post_sql(http, ANALYST, sql).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.lines().count(), 4, "{body}");
    let refused = "/api/v1/variation/education_rate?period=all";
    assert_eq!(get(http, refused, Some("not-a-token")).await.0, 401);
    let too_low = "SELECT count(*) FROM indicator_values -- dashboard";
    assert_eq!(post_sql(http, DASHBOARD, too_low).await.0, 403);
    let bad_sql = "SELECT nothing FROM trend";
    assert_eq!(post_sql(http, ANALYST, bad_sql).await.0, 422);

    // Flight SQL and the PostgreSQL protocol, where their clients are installed.
    let flight_sql = "SELECT indicator, year FROM variation LIMIT 2";
    let with_flight = have_python("adbc_driver_flightsql.dbapi", "the access log's Flight SQL part");
    if with_flight {
        let answer =
            crate::python_json("flight_sql.py", vec![flight.clone(), ANALYST.to_string(), flight_sql.to_string()])
                .await;
        assert_eq!(answer["rows"].as_array().map(Vec::len), Some(2), "{answer}");
    }
    let pg_sql = "SELECT count(*) FROM indicator_values";
    let with_psql = have("psql", "the access log's PostgreSQL part");
    if with_psql {
        let (code, out, err) = crate::postgres::psql(pg, DASHBOARD, "disable", pg_sql).await;
        assert_eq!(code, 0, "{out}{err}");
    }

    let lake = lms_lake::Lake::open(&url).unwrap();
    let lines = access::lines(&lake).await.unwrap();
    let l = the(&lines, values);
    assert_eq!(
        (l.read.token.as_deref(), l.read.role.as_deref(), l.read.channel.as_str(), l.read.rows, l.read.outcome),
        (Some("grafana"), Some("dashboard"), "http", served, access::Outcome::Ok)
    );
    assert_eq!(l.read.tables, vec!["indicator_values"]);
    assert!(l.read.client.as_deref().is_some_and(|c| c.starts_with("127.0.0.1:")), "{l:?}");
    let l = the(&lines, csv);
    assert_eq!((l.read.token.as_deref(), l.read.rows), (Some("controller"), csv_rows));
    let l = the(&lines, jsonstat);
    assert_eq!(
        (l.read.tables.as_slice(), l.read.outcome),
        (&["indicator_values".to_string()][..], access::Outcome::Ok)
    );
    let l = the(&lines, sql);
    assert_eq!(
        (l.read.token.as_deref(), l.read.role.as_deref(), l.read.channel.as_str(), l.read.rows),
        (Some("analyst"), Some("analyst"), "http", 3)
    );
    assert_eq!(l.read.tables, vec!["funnel"]);
    let l = the(&lines, refused);
    assert_eq!(
        (l.read.token.as_deref(), l.read.role.as_deref(), l.read.outcome, l.read.rows),
        (None, None, access::Outcome::Refused, 0)
    );
    // Refused before its body is read (the role is checked first): the line has the path.
    let l = the(&lines, "/api/v1/sql");
    assert_eq!(
        (l.read.token.as_deref(), l.read.outcome, l.read.tables.len()),
        (Some("grafana"), access::Outcome::Refused, 0)
    );
    let l = the(&lines, bad_sql);
    assert_eq!((l.read.outcome, l.read.tables.as_slice()), (access::Outcome::Error, &["trend".to_string()][..]));
    if with_flight {
        let l = the(&lines, flight_sql);
        assert_eq!((l.read.token.as_deref(), l.read.channel.as_str(), l.read.rows), (Some("analyst"), "flight", 2));
        assert_eq!(l.read.tables, vec!["variation"]);
    }
    if with_psql {
        // psql sends its own catalogue queries too; the statement is one line.
        let l = the(&lines, pg_sql);
        assert_eq!((l.read.token.as_deref(), l.read.channel.as_str(), l.read.rows), (Some("grafana"), "postgres", 1));
        assert_eq!(l.read.tables, vec!["indicator_values"]);
    }

    // No secret anywhere in the log's objects; the chain verifies.
    let mut raw = String::new();
    for o in access::objects(&lake).await.unwrap() {
        raw.push_str(&std::fs::read_to_string(dir.path().join("lake").join(&o.path)).unwrap());
    }
    for secret in [DASHBOARD, CONTROLLER, ANALYST, "not-a-token"] {
        assert!(!raw.contains(secret), "a secret in the access log");
    }
    let v = access::verify(&lake).await.unwrap();
    assert_eq!(v.broken, None);
    assert_eq!(v.lines, lines.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_leaves_when_its_line_cannot_be_written_and_none_is_written_when_off() {
    let dir = tempfile::tempdir().unwrap();
    let url = copy_lake(&dir.path().join("lake"));
    // `_audit` a file: no object can be written below it.
    std::fs::write(dir.path().join("lake").join("_audit"), b"in the way").unwrap();
    let mut o = ServerOptions::new(&url);
    o.tokens = tokens();
    let (http, _, _) = start(o.clone()).await;
    let (status, _, body) = get(http, "/api/v1/indicators/participants", Some(DASHBOARD)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"access_log\""), "{body}");
    assert!(!body.contains("\"value\""), "no value in the refusal: {body}");
    let (status, body) = post_sql(http, ANALYST, "SELECT count(*) FROM indicator_values").await;
    assert_eq!(status, 503, "{body}");
    // The probes do not read: they answer.
    assert_eq!(get(http, "/healthz", None).await.0, 200);

    // Off, the same read is answered and nothing is written.
    std::fs::remove_file(dir.path().join("lake").join("_audit")).unwrap();
    o.access_log = false;
    let (http, _, _) = start(o).await;
    assert_eq!(get(http, "/api/v1/indicators/participants", Some(DASHBOARD)).await.0, 200);
    assert!(!dir.path().join("lake").join("_audit").exists());
}
