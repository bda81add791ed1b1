//! The PostgreSQL wire protocol with real clients: Debian's `psql` (simple query protocol, and its
//! `\dt` and `\d` over `pg_catalog`) and Python's psycopg 3 (extended protocol, binary results),
//! against the values the HTTP API serves. Refused: a wrong token, a table the role may not read, a
//! person-level table, anything that writes. Suppressed cells stay without figures.

use std::net::SocketAddr;
use std::sync::Arc;

use lms_server::{AppState, ServerOptions};

use crate::{ANALYST, DASHBOARD, get, have, options};

/// The HTTP API and the PostgreSQL protocol over one state.
pub async fn start(options: ServerOptions, tls: Option<lms_server::postgres::TlsAcceptor>) -> (SocketAddr, SocketAddr) {
    let state = Arc::new(AppState::new(options).unwrap());
    state.refresh().await.unwrap();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pg = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addrs = (http.local_addr().unwrap(), pg.local_addr().unwrap());
    tokio::spawn(lms_server::serve(http, state.clone(), std::future::pending()));
    tokio::spawn(lms_server::postgres::serve(pg, state, tls, std::future::pending()));
    addrs
}

/// `psql` unaligned and tuples-only: exit code, stdout, stderr.
pub async fn psql(pg: SocketAddr, password: &str, sslmode: &str, command: &str) -> (i32, String, String) {
    let (host, port, password, sslmode, command) =
        (pg.ip().to_string(), pg.port().to_string(), password.to_string(), sslmode.to_string(), command.to_string());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("psql")
            .args(["-h", &host, "-p", &port, "-U", "grafana", "-d", "lms", "-X", "-A", "-t", "-F", "|"])
            .args(["-v", "ON_ERROR_STOP=1", "-c", &command])
            .env("PGPASSWORD", password)
            .env("PGSSLMODE", sslmode)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

async fn psycopg(pg: SocketAddr, password: &str, sql: &str, params: &[&str]) -> serde_json::Value {
    let mut args = vec![pg.port().to_string(), password.to_string(), sql.to_string()];
    args.extend(params.iter().map(|p| p.to_string()));
    crate::python_json("postgres_client.py", args).await
}

/// The HTTP API's national `participants` series: (year, value).
async fn participants(http: SocketAddr) -> Vec<(i64, f64)> {
    let (status, _, body) = get(http, "/api/v1/indicators/participants?level=national&breakdown=", Some(ANALYST)).await;
    assert_eq!(status, 200, "{body}");
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    let series: Vec<(i64, f64)> =
        rows.as_array().unwrap().iter().map(|r| (r["year"].as_i64().unwrap(), r["value"].as_f64().unwrap())).collect();
    assert!(series.len() >= 2, "{body}");
    series
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_reads_the_dashboard_tables_with_a_dashboard_token_and_nothing_else() {
    if !have("psql", "the psql test") {
        return;
    }
    let (http, pg) = start(options(), None).await;

    // `\dt` lists what the dashboard role reads, through pg_catalog.
    let (code, out, err) = psql(pg, DASHBOARD, "disable", "\\dt").await;
    assert_eq!(code, 0, "{err}");
    let tables: Vec<&str> = out.lines().filter_map(|l| l.split('|').nth(1)).collect();
    assert_eq!(tables, ["funnel", "indicator_values", "legend", "trend", "variation"], "{out}");
    let (code, out, err) = psql(pg, DASHBOARD, "disable", "\\d indicator_values").await;
    assert_eq!(code, 0, "{err}");
    for column in ["value|double precision", "numerator|bigint", "suppressed|boolean", "suppression_reason|text"] {
        assert!(out.contains(column), "{column} in {out}");
    }

    // A query on indicator_values gives what the API serves.
    let sql = "SELECT year, value FROM indicator_values WHERE indicator = 'participants' AND level = 'national' \
               AND breakdown = '' ORDER BY year";
    let (code, out, err) = psql(pg, DASHBOARD, "disable", sql).await;
    assert_eq!(code, 0, "{err}");
    let got: Vec<(i64, f64)> = out
        .lines()
        .map(|l| {
            let (y, v) = l.split_once('|').unwrap();
            (y.parse().unwrap(), v.parse().unwrap())
        })
        .collect();
    assert_eq!(got, participants(http).await);

    // Suppressed cells have no figures here either: as many as the API hides, none with a number.
    let (code, out, err) = psql(
        pg,
        DASHBOARD,
        "disable",
        "SELECT count(*), count(numerator), count(value), count(ci_low), count(suppression_reason) \
         FROM indicator_values WHERE suppressed AND period = CAST(year AS VARCHAR)",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let counts: Vec<i64> = out.trim().split('|').map(|c| c.parse().unwrap()).collect();
    let mut hidden = 0;
    let (_, _, catalogue) = get(http, "/api/v1/indicators", Some(DASHBOARD)).await;
    let catalogue: serde_json::Value = serde_json::from_str(&catalogue).unwrap();
    for i in catalogue.as_array().unwrap() {
        let id = i["id"].as_str().unwrap();
        let (_, _, body) = get(http, &format!("/api/v1/indicators/{id}"), Some(DASHBOARD)).await;
        let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
        hidden += rows.as_array().unwrap().iter().filter(|r| r["suppressed"] == true).count() as i64;
    }
    assert!(hidden > 0, "the fixture has suppressed cells");
    assert_eq!(counts, [hidden, 0, 0, 0, hidden], "{out}");

    // Refused: a wrong token; a table the dashboard role does not read; a person-level table;
    // anything that writes, or sets the shared session's options.
    let (code, _, err) = psql(pg, "wrong-secret", "disable", "SELECT 1").await;
    assert_eq!(code, 2, "{err}");
    assert!(err.to_lowercase().contains("password authentication failed"), "{err}");
    let (code, _, err) = psql(pg, DASHBOARD, "disable", "SELECT * FROM population").await;
    assert_ne!(code, 0);
    assert!(err.contains("population") && err.contains("not found"), "{err}");
    let (code, _, err) = psql(pg, ANALYST, "disable", "SELECT * FROM coding").await;
    assert_ne!(code, 0);
    assert!(err.contains("coding") && err.contains("not found"), "{err}");
    for write in [
        "CREATE TABLE x AS SELECT 1",
        "SELECT 1 INTO y",
        "INSERT INTO legend VALUES ('a', 'b')",
        "SET datafusion.runtime.memory_limit = '100G'",
        "SET \"datafusion.runtime.memory_limit\" = '100G'",
        "COPY indicator_values TO '/tmp/x.csv'",
        "BEGIN; DECLARE c CURSOR FOR SELECT * FROM indicator_values",
    ] {
        let (code, _, err) = psql(pg, ANALYST, "disable", write).await;
        assert_ne!(code, 0, "{write}");
        assert!(err.contains("read-only"), "{write}: {err}");
    }
    // What drivers ask on connecting: a version SQLAlchemy can parse, Grafana's server_version_num,
    // psycopg's extension types (none);
    // and the savepoints psqlODBC and SQLAlchemy set around statements (nothing to undo here).
    let (code, out, err) = psql(
        pg,
        DASHBOARD,
        "disable",
        "SELECT version(), CAST(current_setting('server_version_num') AS INT) / 100, current_setting('no_such', true), \
         to_regtype('hstore')",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("PostgreSQL 16.6 (LMS Monitor ") && out.trim().ends_with("|1600||"), "{out}");
    let (code, out, err) = psql(
        pg,
        DASHBOARD,
        "disable",
        "BEGIN; SAVEPOINT s1; SELECT count(*) FROM legend; RELEASE SAVEPOINT s1; ROLLBACK TO SAVEPOINT s1; COMMIT",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let answers: Vec<&str> = out.lines().collect();
    // The legend's two served reasons: disclosure and coverage.
    assert_eq!(answers, ["BEGIN", "SAVEPOINT", "2", "RELEASE", "ROLLBACK", "COMMIT"], "{out}");
    // PostgreSQL's own settings, as clients send them, are answered.
    let (code, _, err) = psql(pg, ANALYST, "disable", "SET extra_float_digits = 3").await;
    assert_eq!(code, 0, "{err}");
    // The analyst reads the reference data too.
    let (code, out, err) = psql(pg, ANALYST, "disable", "SELECT count(*) FROM regions").await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "4");
}

/// The tables a role lists, through information_schema (what Grafana and ODBC read).
async fn tables(pg: SocketAddr, token: &str) -> Vec<String> {
    let (code, out, err) = psql(
        pg,
        token,
        "disable",
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    out.lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_lists_the_tables_it_reads_over_http() {
    if !have("psql", "the role listing test") {
        return;
    }
    let (_, pg) = start(options(), None).await;
    assert_eq!(tables(pg, DASHBOARD).await, ["funnel", "indicator_values", "legend", "trend", "variation"]);
    assert_eq!(
        tables(pg, crate::CONTROLLER).await,
        ["data_freshness", "data_quality", "funnel", "indicator_values", "legend", "trend", "variation"]
    );
    // The analyst: every table of the published session (what HTTP SQL and Flight SQL serve).
    let published =
        lms_queries::Warehouse::open(&lms_lake::Lake::open(crate::lake_url()).unwrap(), lms_queries::Access::Published)
            .await
            .unwrap();
    let schema = published.context().catalog("datafusion").unwrap().schema("public").unwrap();
    let mut expected = schema.table_names();
    expected.sort();
    assert_eq!(tables(pg, ANALYST).await, expected);
    for t in lms_queries::PERSON_LEVEL {
        assert!(!expected.iter().any(|e| e == t), "{t} in the published session");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_past_its_deadline_is_cancelled() {
    if !have("psql", "the deadline test") {
        return;
    }
    let mut options = options();
    options.sql_timeout = std::time::Duration::from_nanos(1);
    let (_, pg) = start(options, None).await;
    let (code, _, err) = psql(pg, ANALYST, "disable", "SELECT * FROM indicator_values").await;
    assert_ne!(code, 0);
    assert!(err.contains("canceling statement: it took longer than"), "{err}");
}

/// A TLS acceptor with a fresh self-signed certificate (openssl).
fn self_signed() -> lms_server::postgres::TlsAcceptor {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-keyout", key.to_str().unwrap(), "-out", cert.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    lms_server::postgres::tls(&cert, &key).unwrap()
}

/// This machine's address other hosts reach it by (no packet is sent), if it has one.
fn outward_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    Some(socket.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_another_address_a_token_goes_only_over_tls() {
    if !have("psql", "the remote peer test") || !have("openssl", "the remote peer test") {
        return;
    }
    let Some(ip) = outward_address() else {
        eprintln!("SKIPPED the remote peer test: this machine has no address but loopback");
        return;
    };
    // On every interface, as a deployment listens; psql connects to the outward address, so the
    // server sees a peer that is not loopback.
    let serve = |options: ServerOptions, tls: Option<lms_server::postgres::TlsAcceptor>| async move {
        let state = Arc::new(AppState::new(options).unwrap());
        state.refresh().await.unwrap();
        let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(lms_server::postgres::serve(listener, state, tls, std::future::pending()));
        SocketAddr::new(ip, port)
    };
    let legend = "SELECT count(*) FROM legend";
    let pg = serve(options(), Some(self_signed())).await;
    let (code, _, err) = psql(pg, DASHBOARD, "disable", legend).await;
    assert!(code != 0 && err.contains("only over TLS"), "{err}");
    let (code, out, err) = psql(pg, DASHBOARD, "require", legend).await;
    assert!(code == 0 && out.trim() == "2", "{err}");
    // Without tokens, no caller from another address at all.
    let pg = serve(ServerOptions::new(crate::lake_url()), None).await;
    let (code, _, err) = psql(pg, DASHBOARD, "disable", legend).await;
    assert!(code != 0 && err.contains("from this host only"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_reads_with_the_extended_protocol_within_the_row_limit() {
    if !crate::have_python("psycopg", "the psycopg test") {
        return;
    }
    let mut options = options();
    options.sql_row_limit = 7;
    let (http, pg) = start(options, None).await;
    // Parameters: Parse, Bind, Execute, binary results.
    let sql = "SELECT year, value FROM indicator_values WHERE indicator = %s AND level = %s AND breakdown = %s \
               ORDER BY year";
    let answer = psycopg(pg, ANALYST, sql, &["participants", "national", ""]).await;
    assert_eq!(answer["columns"], serde_json::json!(["year", "value"]), "{answer}");
    let rows: Vec<(i64, f64)> = answer["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|r| (r[0].as_i64().unwrap(), r[1].as_f64().unwrap()))
        .collect();
    assert_eq!(rows, participants(http).await);
    // A whole table stops at the row limit, as over HTTP.
    let answer = psycopg(pg, ANALYST, "SELECT * FROM indicator_values", &[]).await;
    assert_eq!(answer["rows"].as_array().map(Vec::len), Some(7), "{answer}");
    // A suppressed cell, asked for by name, has no figures.
    let answer = psycopg(
        pg,
        ANALYST,
        "SELECT numerator, value, ci_low, suppression_reason FROM indicator_values WHERE suppressed AND \
         suppression_reason = %s LIMIT 1",
        &["disclosure"],
    )
    .await;
    assert_eq!(answer["rows"], serde_json::json!([[null, null, null, "disclosure"]]), "{answer}");
    // Refused: a wrong token, a person-level table, a write.
    let e = psycopg(pg, "wrong-secret", "SELECT 1", &[]).await;
    assert!(e["error"].as_str().is_some_and(|m| m.to_lowercase().contains("password authentication failed")), "{e}");
    let e = psycopg(pg, ANALYST, "SELECT * FROM evaluation WHERE 1 = %s", &["1"]).await;
    assert!(e["error"].as_str().is_some_and(|m| m.contains("evaluation")), "{e}");
    let e = psycopg(pg, ANALYST, "CREATE TABLE x AS SELECT %s AS a", &["1"]).await;
    assert!(e["error"].as_str().is_some_and(|m| m.contains("read-only")), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_connects_over_tls_when_a_certificate_is_configured() {
    if !have("psql", "the TLS test") || !have("openssl", "the TLS test") {
        return;
    }
    let tls = self_signed();
    let (_, pg) = start(options(), Some(tls)).await;
    let (code, out, err) = psql(pg, DASHBOARD, "require", "SELECT ssl FROM (SELECT 1) AS t(ssl)").await;
    assert_eq!((code, out.trim()), (0, "1"), "{err}");
    // psql says it is on TLS: `\conninfo` names the protocol.
    let (code, out, err) = psql(pg, DASHBOARD, "require", "\\conninfo").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("SSL connection (protocol: TLSv1.3"), "{out}");
}
