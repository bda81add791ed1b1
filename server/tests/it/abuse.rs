//! The server under abuse (issue 29), on loopback, every loop bounded in count and time: each
//! finding reproduced and held. The governed query path (`lms_server::query`) over HTTP, Flight SQL
//! and the PostgreSQL protocol; bounded connections; safe outputs.

use std::time::{Duration, Instant};

use lms_server::ServerOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::flight::start_with_flight;
use crate::{ANALYST, DASHBOARD, client, get, options, start};

/// Runs for minutes without a deadline: 10¹⁰ rows counted.
const SLOW: &str = "SELECT count(*) FROM range(10000000000)";

fn governed(timeout: Duration, permits: usize) -> ServerOptions {
    let mut o = options();
    o.sql_timeout = timeout;
    o.sql_concurrency = permits;
    o
}

async fn post_sql(addr: std::net::SocketAddr, sql: &str, accept: &str) -> (u16, String) {
    let r = client()
        .post(format!("http://{addr}/api/v1/sql"))
        .bearer_auth(ANALYST)
        .header("accept", accept)
        .body(sql.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_else(|e| format!("(body ended: {e})")))
}

async fn flight(uri: &str, sql: &str) -> (serde_json::Value, Duration) {
    let started = Instant::now();
    let answer = crate::python_json("flight_sql.py", vec![uri.to_string(), ANALYST.to_string(), sql.to_string()]).await;
    (answer, started.elapsed())
}

/// Flight SQL takes the query permit and the deadline like HTTP: a statement that would run for
/// minutes ends at the deadline (not after it, between batches), a statement waits for the one
/// permit an HTTP query holds, a statement over the size cap is refused, and `SELECT version()`
/// (which BI tools send when they connect) answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_takes_the_governed_path() {
    if !crate::have_python("adbc_driver_flightsql.dbapi", "the Flight SQL abuse test") {
        return;
    }
    let timeout = Duration::from_secs(3);
    let (http, uri) = start_with_flight(governed(timeout, 1)).await;

    let (answer, took) = flight(&uri, SLOW).await;
    let e = answer["error"].as_str().unwrap_or_else(|| panic!("{answer}"));
    assert!(e.contains("took longer than 3 s"), "{e}");
    assert!(took < timeout + Duration::from_secs(5), "ended after {took:?}");

    // HTTP holds the one permit until its deadline; Flight waits for it, then answers.
    let slow = tokio::spawn(async move {
        let started = Instant::now();
        (post_sql(http, SLOW, "application/json").await, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (answer, took) = flight(&uri, "SELECT 1 AS one").await;
    let ((status, body), http_took) = slow.await.unwrap();
    assert!(status == 503 || body.contains("deadline") || body.contains("took longer"), "{status} {body}");
    assert!(http_took < timeout + Duration::from_secs(3), "HTTP ended after {http_took:?}");
    assert_eq!(answer["rows"], serde_json::json!([[1]]), "{answer}");
    assert!(took > Duration::from_millis(1500), "Flight did not wait for the permit: {took:?}");

    let big = format!("SELECT 1 -- {}", "x".repeat(70 * 1024));
    let (answer, _) = flight(&uri, &big).await;
    let e = answer["error"].as_str().unwrap_or_else(|| panic!("{answer}"));
    assert!(e.contains("larger than 65536 bytes"), "{e}");

    let (answer, _) = flight(&uri, "SELECT version() AS v").await;
    let rows = answer["rows"].as_array().unwrap_or_else(|| panic!("{answer}"));
    assert!(rows[0][0].as_str().is_some_and(|v| !v.is_empty()), "{answer}");
    let (answer, _) = flight(&uri, "SELECT current_schema() AS s, current_database() AS d").await;
    assert_eq!(answer["rows"], serde_json::json!([["public", "datafusion"]]), "{answer}");
}

/// SQL waiting for a permit holds no general request slot: with one slot and one permit, a
/// dashboard request answers at once while one statement runs and another waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_sql_leaves_the_dashboards_alone() {
    let mut o = governed(Duration::from_secs(3), 1);
    o.concurrency = 1;
    let (addr, _stop) = start(o).await;
    let running = tokio::spawn(async move { post_sql(addr, SLOW, "application/json").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = tokio::spawn(async move { post_sql(addr, "SELECT 1", "application/json").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let (status, _, _) = get(addr, "/api/v1/legend", Some(DASHBOARD)).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(1), "the legend waited {:?}", started.elapsed());
    running.await.unwrap();
    let (status, body) = waiting.await.unwrap();
    assert_eq!(status, 200, "{body}");
}

/// Connections are bounded: beyond `max_connections` a connection gets one answer (the probes
/// answer, anything else 503 `too_many_connections`); a connection that sends no request head
/// (or, kept alive, no next request) within `header_read_timeout` is closed, which frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_bounded_and_idle_ones_closed() {
    let mut o = options();
    o.max_connections = 8;
    o.header_read_timeout = Duration::from_secs(1);
    let (addr, _stop) = start(o).await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap(); // never finished
        idle.push(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fresh = || reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let r = fresh().get(format!("http://{addr}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "a probe at the cap");
    let r = fresh().get(format!("http://{addr}/api/v1/legend")).bearer_auth(DASHBOARD).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("too_many_connections"));
    // The half-sent heads are closed after the timeout, and their places are free again.
    for mut c in idle {
        let mut buf = [0u8; 1024];
        let read = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await;
        assert!(read.is_ok(), "a half-sent head was kept open");
    }
    let r = fresh().get(format!("http://{addr}/api/v1/legend")).bearer_auth(DASHBOARD).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // An idle kept-alive connection is closed too.
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = c.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    let started = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if c.read(&mut buf).await.unwrap_or(0) == 0 {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an idle keep-alive connection was kept open");
    assert!(started.elapsed() >= Duration::from_millis(500), "closed too soon: {:?}", started.elapsed());
}

/// CSV exports neutralise what a spreadsheet would run as a formula (OWASP); answers carry a
/// content security policy, a framing policy and `nosniff`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_are_safe() {
    let (addr, _stop) = start(options()).await;
    let sql = "SELECT '=HYPERLINK(\"x\")' AS a, '+1' AS b, '-2' AS c, '@SUM(1)' AS d, 'plain' AS e, -3 AS n";
    let (status, body) = post_sql(addr, sql, "text/csv").await;
    assert_eq!(status, 200, "{body}");
    let line = body.lines().nth(1).unwrap();
    assert_eq!(line, r#""'=HYPERLINK(""x"")",'+1,'-2,'@SUM(1),plain,-3"#);
    // JSON answers keep the text as it is.
    let (_, body) = post_sql(addr, sql, "application/json").await;
    assert!(body.contains(r#""a":"=HYPERLINK(\"x\")""#), "{body}");
    let (status, headers, _) = get(addr, "/", Some(DASHBOARD)).await;
    assert_eq!(status, 200);
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
}

/// The PostgreSQL protocol takes the statement-size cap like HTTP and Flight (SQLSTATE 54000); a
/// client that sends far more than that before an answer is cut off while it sends (pgwire would
/// buffer up to 1 GiB first), and a silent connection is closed after `postgres_idle_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statements_are_capped() {
    if !crate::have("psql", "the PostgreSQL abuse test") {
        return;
    }
    let mut o = options();
    o.postgres_idle_timeout = Duration::from_secs(2);
    let (_, pg) = crate::postgres::start(o, None).await;
    let big = format!("SELECT 1 -- {}", "x".repeat(70 * 1024));
    let (code, _, err) = crate::postgres::psql(pg, ANALYST, "disable", &big).await;
    assert_ne!(code, 0);
    assert!(err.contains("larger than 65536 bytes"), "{err}");
    // From a file: one argument holds at most 128 KiB.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.sql");
    std::fs::write(&file, format!("SELECT 1 -- {}\n;", "x".repeat(1 << 20))).unwrap();
    let (code, _, err) = crate::postgres::psql(pg, ANALYST, "disable", &format!("\\i {}", file.display())).await;
    assert_ne!(code, 0);
    assert!(!err.contains("larger than"), "the statement was read whole: {err}");
    let (code, out, err) = crate::postgres::psql(pg, ANALYST, "disable", "SELECT 1").await;
    assert_eq!((code, out.trim()), (0, "1"), "{err}");
    // Silent from the start: closed after the idle timeout, not pgwire's 60 s startup deadline.
    let mut c = tokio::net::TcpStream::connect(pg).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(1500), "closed too soon: {:?}", started.elapsed());
}
