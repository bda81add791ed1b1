//! Every endpoint: statuses, shapes, filters, formats, caching and roles.

use serde_json::Value;

use crate::{ANALYST, CONTROLLER, DASHBOARD, client, get, options, start};

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn error_code(body: &str) -> String {
    json(body)["error"]["code"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_roles() {
    let (addr, _stop) = start(options()).await;
    let (status, _, body) = get(addr, "/healthz", None).await;
    assert_eq!((status, json(&body)["status"].as_str()), (200, Some("ok")));
    let (status, _, body) = get(addr, "/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["version"], 1);
    assert!(json(&body)["digest"].as_str().unwrap().starts_with("sha256:"), "{body}");

    // No token, a wrong token: 401 with a JSON error; a role too low: 403.
    let (status, headers, body) = get(addr, "/api/v1/indicators", None).await;
    assert_eq!((status, error_code(&body).as_str()), (401, "unauthorized"));
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    assert_eq!(get(addr, "/api/v1/indicators", Some("wrong")).await.0, 401);
    assert_eq!(get(addr, "/metrics", None).await.0, 401);
    assert_eq!(get(addr, "/api/v1/indicators", Some(DASHBOARD)).await.0, 200);
    let (status, _, body) = get(addr, "/api/v1/runs", Some(DASHBOARD)).await;
    assert_eq!((status, error_code(&body).as_str()), (403, "forbidden"));
    assert_eq!(get(addr, "/api/v1/runs", Some(CONTROLLER)).await.0, 200);
    assert_eq!(get(addr, "/api/v1/sources", Some(ANALYST)).await.0, 200, "roles nest");
    let r = client()
        .post(format!("http://{addr}/api/v1/sql"))
        .bearer_auth(CONTROLLER)
        .body("SELECT 1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (status, _, body) = get(addr, "/no/such/path", Some(DASHBOARD)).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_lake_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options();
    o.lake_url = format!("file://{}", dir.path().display());
    let (addr, _stop) = start(o).await;
    assert_eq!(get(addr, "/healthz", None).await.0, 200);
    let (status, _, body) = get(addr, "/readyz", None).await;
    assert_eq!((status, error_code(&body).as_str()), (503, "not_ready"));
    assert_eq!(get(addr, "/api/v1/indicators", Some(DASHBOARD)).await.0, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_and_indicator_values() {
    let (addr, _stop) = start(options()).await;
    let (status, headers, body) = get(addr, "/api/v1/indicators", Some(DASHBOARD)).await;
    assert_eq!(status, 200);
    assert_eq!(headers["etag"], publication(addr).await["etag"].as_str().unwrap());
    let catalogue = json(&body);
    insta::assert_json_snapshot!("catalogue", catalogue);

    // Flat rows with `time` first, the shape Grafana's Infinity data source reads.
    let (status, _, body) =
        get(addr, "/api/v1/indicators/course_runs?level=national&from=2023&to=2024", Some(DASHBOARD)).await;
    assert_eq!(status, 200, "{body}");
    let rows = json(&body);
    insta::assert_json_snapshot!("course_runs_national", rows);
    assert!(body.starts_with(r#"[{"time":"2023-01-01T00:00:00Z","indicator":"course_runs""#), "{body}");

    // Filters narrow; the unfiltered answer holds every cell.
    let (_, _, all) = get(addr, "/api/v1/indicators/a0099_share", Some(DASHBOARD)).await;
    let all = json(&all);
    let (_, _, hv) = get(addr, "/api/v1/indicators/a0099_share?year=2024&rhf=HV&breakdown=", Some(DASHBOARD)).await;
    let hv = json(&hv);
    let expected: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["year"] == 2024 && r["rhf"] == "HV" && r["breakdown"] == "")
        .collect();
    assert_eq!(hv.as_array().unwrap().iter().collect::<Vec<_>>(), expected);
    assert_eq!(expected.len(), 1 + 5, "HV and its five HFs, Haraldsplass included");
    // Suppressed cells are there, marked, without their figures.
    let hidden: Vec<&Value> = all.as_array().unwrap().iter().filter(|r| r["suppressed"] == true).collect();
    assert!(!hidden.is_empty());
    for r in hidden {
        assert!(r["value"].is_null() && r["numerator"].is_null() && r["ci_low"].is_null(), "{r}");
        assert!(r["ci99_low"].is_null() && r["ci99_high"].is_null() && r["compared"].is_null(), "{r}");
        let reason = r["suppression_reason"].as_str().unwrap_or_default();
        // Served: `disclosure` or `coverage` only (the finer reason stays on the warehouse host).
        assert!(["disclosure", "coverage"].contains(&reason), "a hidden cell says why: {r}");
    }
    // Shown cells say nothing of suppression; units with an interval are compared with the nation.
    for r in all.as_array().unwrap().iter().filter(|r| r["suppressed"] == false) {
        assert!(r["suppression_reason"].is_null(), "{r}");
        if r["level"] != "national" && !r["ci_low"].is_null() {
            assert!(["higher", "similar", "lower"].contains(&r["compared"].as_str().unwrap_or_default()), "{r}");
        }
    }

    // The funnel of a share: one row per shown trust with a denominator, none for a hidden one.
    let (status, _, funnel) =
        get(addr, "/api/v1/indicators/a0099_share/funnel?year=2024&level=hf&breakdown=", Some(DASHBOARD)).await;
    assert_eq!(status, 200, "{funnel}");
    let funnel = json(&funnel);
    let funnel = funnel.as_array().unwrap();
    let cells: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["year"] == 2024 && r["level"] == "hf" && r["breakdown"] == "")
        .collect();
    let shown: Vec<&str> = cells
        .iter()
        .filter(|r| r["suppressed"] == false && r["denominator"].as_f64().is_some_and(|d| d > 0.0))
        .map(|r| r["hf"].as_str().unwrap())
        .collect();
    let mut drawn: Vec<&str> = funnel.iter().map(|r| r["hf"].as_str().unwrap()).collect();
    assert!(!drawn.is_empty());
    let (mut shown, drawn_count) = (shown, drawn.len());
    shown.sort();
    drawn.sort();
    drawn.dedup();
    assert_eq!(drawn.len(), drawn_count, "one row per trust");
    assert_eq!(drawn, shown, "the shown trusts");
    for r in funnel {
        let f = |k: &str| r[k].as_f64().unwrap();
        assert!(f("low998") <= f("low95") && f("low95") <= f("national") && f("national") <= f("high95"), "{r}");
        assert!(f("high95") <= f("high998") && f("low998") >= 0.0 && f("high998") <= 1.0, "{r}");
    }
    let (status, _, csv) =
        get(addr, "/api/v1/indicators/a0099_share/funnel?year=2024&level=hf&format=csv", Some(DASHBOARD)).await;
    assert_eq!(status, 200);
    assert!(csv.starts_with("indicator,year,level,rhf,hf,breakdown,denominator,value,national,"), "{csv}");
    assert_eq!(get(addr, "/api/v1/indicators/course_runs/funnel", Some(DASHBOARD)).await.0, 404, "a count has none");
    assert_eq!(get(addr, "/api/v1/indicators/a0099_share/funnel?level=nation", Some(DASHBOARD)).await.0, 400);

    // The target of the size-class rate (main.rs): good ≥ 0.25, acceptable ≥ 0.23, below.
    let (_, _, rates) = get(addr, "/api/v1/indicators/education_rate_by_size_class?year=2024", Some(DASHBOARD)).await;
    let rates = json(&rates);
    assert!(!rates.as_array().unwrap().is_empty());
    for r in rates.as_array().unwrap() {
        let expected = match r["value"].as_f64() {
            Some(v) if v >= 0.25 => "good",
            Some(v) if v >= 0.23 => "acceptable",
            Some(_) => "below",
            None => {
                assert!(r["target"].is_null(), "no value, no target: {r}");
                continue;
            }
        };
        assert_eq!(r["target"], expected, "{r}");
    }
    // An indicator without a target has none.
    assert!(all.as_array().unwrap().iter().all(|r| r["target"].is_null()));

    // Periods: a year's cells carry it as their period; `period=` filters, `period=all` adds the
    // pooled windows (this two-year lake has none), a window of other years answers nothing.
    let period_is_year = |r: &Value| r["period"].as_str().and_then(|p| p.parse::<i64>().ok()) == r["year"].as_i64();
    assert!(all.as_array().unwrap().iter().all(period_is_year), "single years");
    let (_, _, y2024) = get(addr, "/api/v1/indicators/a0099_share?period=2024", Some(DASHBOARD)).await;
    let y2024 = json(&y2024);
    assert_eq!(y2024.as_array().unwrap().len(), all.as_array().unwrap().iter().filter(|r| r["year"] == 2024).count());
    let (_, _, every) = get(addr, "/api/v1/indicators/a0099_share?period=all", Some(DASHBOARD)).await;
    assert_eq!(json(&every), all);
    let (_, _, none) = get(addr, "/api/v1/indicators/education_contacts_rate?period=2022-2024", Some(DASHBOARD)).await;
    assert_eq!(json(&none), serde_json::json!([]));
    assert_eq!(get(addr, "/api/v1/indicators/a0099_share?period=24", Some(DASHBOARD)).await.0, 400);

    // The legend: every reason, in bokmål and English, as JSON and CSV.
    let (status, _, legend) = get(addr, "/api/v1/legend", Some(DASHBOARD)).await;
    assert_eq!(status, 200);
    let legend = json(&legend);
    let reasons: Vec<&str> = legend.as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["disclosure", "coverage"]);
    assert!(legend.as_array().unwrap().iter().all(|r| r["text_nb"].is_string() && r["text_en"].is_string()));
    let (status, _, csv) = get(addr, "/api/v1/legend?format=csv", Some(DASHBOARD)).await;
    assert_eq!(status, 200);
    assert!(csv.starts_with("reason,text_nb,text_en\ndisclosure,"), "{csv}");
    let (status, _, _) = get(addr, "/api/v1/legend", None).await;
    assert_eq!(status, 401, "the legend needs a token like every API answer");

    // CSV: the same rows.
    let (status, headers, body) =
        get(addr, "/api/v1/indicators/a0099_share?year=2024&rhf=HV&breakdown=&format=csv", Some(DASHBOARD)).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let mut lines = body.lines();
    assert_eq!(
        lines.next().unwrap(),
        "time,indicator,year,period,level,rhf,hf,breakdown,numerator,denominator,value,ci_low,ci_high,ci99_low,ci99_high,suppressed,suppression_reason,compared,coverage,target"
    );
    assert_eq!(lines.count(), 6);

    // Bad input.
    for (path, status, code) in [
        ("/api/v1/indicators/no_such_thing", 404, "not_found"),
        ("/api/v1/indicators/course_runs?level=county", 400, "bad_request"),
        ("/api/v1/indicators/course_runs?year=twenty", 400, "bad_request"),
        ("/api/v1/indicators/course_runs?colour=red", 400, "bad_request"),
        ("/api/v1/indicators/course_runs?format=xml", 400, "bad_request"),
    ] {
        let (s, _, body) = get(addr, path, Some(DASHBOARD)).await;
        assert_eq!((s, error_code(&body).as_str()), (status, code), "{path}: {body}");
    }
}

/// `GET /api/v1/publication`.
async fn publication(addr: std::net::SocketAddr) -> Value {
    let (status, _, body) = get(addr, "/api/v1/publication", Some(DASHBOARD)).await;
    assert_eq!(status, 200, "{body}");
    json(&body)
}

const TAGGED: [&str; 4] = [
    "/api/v1/indicators",
    "/api/v1/indicators/participants?level=rhf",
    "/api/v1/variation/education_contacts_rate",
    "/",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etag_and_if_none_match() {
    let (addr, _stop) = start(options()).await;
    let p = publication(addr).await;
    assert_eq!(p["version"], 1);
    assert!(p["digest"].as_str().unwrap().starts_with("sha256:") && p["digest"].as_str().unwrap().len() == 71, "{p}");
    assert_eq!(p["digested_tables"], serde_json::json!(["indicator_values", "variation"]));
    let definitions = p["definitions"].as_str().unwrap();
    assert!(
        definitions.starts_with("min_count=5;min_coverage=0.75;sql=") && definitions.contains(";reference="),
        "{p}"
    );
    assert_eq!(p["reference_version"], lms_queries::publish::reference_version(), "{p}");
    for path in TAGGED {
        let r = client().get(format!("http://{addr}{path}")).bearer_auth(DASHBOARD).send().await.unwrap();
        let tag = r.headers()["etag"].clone();
        assert_eq!(tag, p["etag"].as_str().unwrap(), "{path}");
        let r = client()
            .get(format!("http://{addr}{path}"))
            .bearer_auth(DASHBOARD)
            .header("if-none-match", tag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304, "{path}");
        assert!(r.text().await.unwrap().is_empty());
        let r = client()
            .get(format!("http://{addr}{path}"))
            .bearer_auth(DASHBOARD)
            .header("if-none-match", "\"v0\"")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}: another version");
    }
}

/// A republish that changes nothing makes a new lake version with the same content digest: the
/// entity tag stays, and a client's cached answer is still good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republish_with_nothing_changed_keeps_the_digest_and_the_etag() {
    // A copy of the shared lake, so the other tests keep reading version 1.
    let dir = tempfile::tempdir().unwrap();
    let from = std::path::PathBuf::from(crate::lake_url().strip_prefix("file://").unwrap());
    copy_dir(&from, dir.path());
    let url = format!("file://{}", dir.path().display());
    let mut o = options();
    o.lake_url = url.clone();
    let state = std::sync::Arc::new(lms_server::AppState::new(o).unwrap());
    state.refresh().await.unwrap();
    let before = state.view().unwrap();
    let etl = lms_etl::Etl {
        lake: lms_lake::Lake::open(&url).unwrap(),
        reference: std::sync::Arc::new(lms_schemas::Reference::embedded().unwrap()),
        key: lms_schemas::identity::PseudonymKey::from_hex(&"05".repeat(32)).unwrap(),
        options: lms_etl::EtlOptions::default(),
        // The definitions the shared lake was published with (main.rs), target included.
        publisher: Some(std::sync::Arc::new(lms_queries::IndicatorPublisher::new(
            lms_queries::publish::BuildOptions {
                min_count: 5,
                targets: vec![crate::size_class_target()],
                ..Default::default()
            },
        ))),
    };
    assert_eq!(etl.republish().await.unwrap().version, Some(2));
    assert_eq!(state.refresh().await.unwrap(), Some(2));
    let after = state.view().unwrap();
    assert_eq!(after.version, 2);
    assert_eq!(after.digest, before.digest);
    assert_eq!(after.etag, before.etag);
    assert!(before.etag.starts_with("\"p"), "{}", before.etag);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(lms_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    for path in TAGGED {
        let r = client()
            .get(format!("http://{addr}{path}"))
            .bearer_auth(DASHBOARD)
            .header("if-none-match", &before.etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304, "{path}: the tag of version 1 still matches version 2");
    }
    assert_eq!(publication(addr).await["version"], 2);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variation_sources_and_runs() {
    let (addr, _stop) = start(options()).await;
    let (status, _, body) = get(addr, "/api/v1/variation/education_contacts_rate", Some(DASHBOARD)).await;
    assert_eq!(status, 200);
    let rows = json(&body);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "2023 and 2024");
    for r in rows {
        assert_eq!(r["areas"], 21, "every HF catchment area: {r}");
        assert!(r["time"].as_str().unwrap().ends_with("-01-01T00:00:00Z"));
    }
    let (status, _, body) = get(addr, "/api/v1/variation/course_runs", Some(DASHBOARD)).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "not_found"));

    // Recent trends: one row per series of a share or standardised rate, as the served cells have
    // them; with two years (2023, 2024) none can be calculated (the rule needs five).
    let (status, _, body) = get(addr, "/api/v1/trend/cancelled_share", Some(DASHBOARD)).await;
    assert_eq!(status, 200, "{body}");
    let trends = json(&body);
    let trends = trends.as_array().unwrap();
    let (_, _, cells) = get(addr, "/api/v1/indicators/cancelled_share?year=2024", Some(DASHBOARD)).await;
    assert_eq!(trends.len(), json(&cells).as_array().unwrap().len(), "a series per unit and breakdown");
    for t in trends {
        assert_eq!(t["trend"], "cannot_be_calculated", "{t}");
        assert!(t["from_year"].is_null() && t["slope"].is_null() && t["direction"].is_null(), "{t}");
    }
    let (_, _, body) = get(addr, "/api/v1/trend/cancelled_share?level=rhf&format=csv", Some(DASHBOARD)).await;
    assert!(
        body.starts_with("indicator,level,rhf,hf,breakdown,from_year,to_year,slope,chi2,trend,direction\n"),
        "{body}"
    );
    assert_eq!(body.lines().count(), 1 + 4, "the four regions");
    let (status, _, body) = get(addr, "/api/v1/trend/course_runs", Some(DASHBOARD)).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "not_found"), "a count has no trend");
    assert_eq!(get(addr, "/api/v1/trend/cancelled_share", None).await.0, 401);

    let (_, _, body) = get(addr, "/api/v1/sources", Some(CONTROLLER)).await;
    let sources = json(&body);
    let names: Vec<&str> = sources.as_array().unwrap().iter().map(|s| s["source"].as_str().unwrap()).collect();
    assert_eq!(names, ["hmn", "hn", "hso", "hv"]);
    for s in sources.as_array().unwrap() {
        assert_eq!(s["last_run"]["status"], "succeeded", "{s}");
        assert!(s["last_success"].is_string());
        assert_eq!(s["extracts"].as_array().unwrap().len(), 3, "{s}");
    }
    let (_, _, body) = get(addr, "/api/v1/runs?source=hv&limit=5", Some(CONTROLLER)).await;
    let runs = json(&body);
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert!(runs[0]["rows_loaded"].as_u64().unwrap() > 0);
    assert_eq!(get(addr, "/api/v1/runs?limit=many", Some(CONTROLLER)).await.0, 400);
}

async fn post_sql(
    addr: std::net::SocketAddr,
    token: &str,
    sql: &str,
    accept: &str,
) -> (u16, reqwest::header::HeaderMap, bytes::Bytes) {
    let r = client()
        .post(format!("http://{addr}/api/v1/sql"))
        .bearer_auth(token)
        .header("accept", accept)
        .header("content-type", "application/json")
        .body(serde_json::json!({ "sql": sql }).to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.headers().clone(), r.bytes().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_for_analysts() {
    let mut o = options();
    o.sql_row_limit = 7;
    o.max_body_bytes = 1024;
    let (addr, _stop) = start(o).await;
    let sql = "SELECT indicator, year, value FROM indicator_values WHERE level = 'national' AND breakdown = '' \
               AND indicator = 'participants' ORDER BY year";
    let (status, _, body) = post_sql(addr, ANALYST, sql, "application/json").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let rows: Value = serde_json::from_slice(&body).unwrap();
    // The same values as the indicator API.
    let (_, _, api) = get(addr, "/api/v1/indicators/participants?level=national&breakdown=", Some(ANALYST)).await;
    let api = json(&api);
    assert_eq!(rows.as_array().unwrap().len(), 2);
    for (a, b) in rows.as_array().unwrap().iter().zip(api.as_array().unwrap()) {
        assert_eq!((&a["year"], &a["value"]), (&b["year"], &b["value"]));
    }
    // CSV and Arrow IPC by Accept; the row limit holds.
    let (status, headers, body) =
        post_sql(addr, ANALYST, "SELECT indicator, year FROM indicator_values ORDER BY 1, 2", "text/csv").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-lms-row-limit"], "7");
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(text.lines().next(), Some("indicator,year"));
    assert_eq!(text.lines().count(), 1 + 7);
    let (status, _, body) =
        post_sql(addr, ANALYST, "SELECT * FROM variation", "application/vnd.apache.arrow.stream").await;
    assert_eq!(status, 200);
    let reader =
        datafusion::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body.to_vec()), None).unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 4, "two indicators, two years");
    let (_, _, body) = post_sql(
        addr,
        ANALYST,
        "SELECT indicator, value FROM indicator_values WHERE suppressed LIMIT 1",
        "application/json",
    )
    .await;
    let rows: Value = serde_json::from_slice(&body).unwrap();
    assert!(rows[0]["value"].is_null() && rows[0].as_object().unwrap().contains_key("value"), "nulls are written");
    let (status, _, body) = post_sql(addr, ANALYST, "SELECT 1 AS x WHERE false", "application/json").await;
    assert_eq!((status, &body[..]), (200, &b"[]"[..]));

    // Refused: person-level tables (not there at all), DDL and DML, bad SQL, a bad Accept, too big a body.
    for sql in [
        "SELECT * FROM coding",
        "SELECT count(*) FROM quarantine",
        "SELECT * FROM runs",
        "CREATE TABLE x AS SELECT 1",
        "DROP TABLE indicator_values",
        "INSERT INTO indicator_values SELECT * FROM indicator_values",
        "SELECT * FROM 'file:///etc/passwd'",
        "COPY (SELECT 1) TO '/tmp/x.csv'",
        "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/tmp'",
        "SET datafusion.catalog.information_schema = true",
        "SHOW TABLES",
        "SELEKT 1",
    ] {
        let (status, _, body) = post_sql(addr, ANALYST, sql, "application/json").await;
        assert_eq!(status, 422, "{sql}: {}", String::from_utf8_lossy(&body));
        let e: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(e["error"]["code"], "invalid_sql");
    }
    let (status, _, body) = post_sql(addr, ANALYST, "SELECT 1", "image/png").await;
    assert_eq!(status, 406, "{}", String::from_utf8_lossy(&body));
    let big = format!("SELECT 1 -- {}", "x".repeat(2000));
    let r = client().post(format!("http://{addr}/api/v1/sql")).bearer_auth(ANALYST).body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(json(&r.text().await.unwrap())["error"]["code"], "payload_too_large");
    let r = client().post(format!("http://{addr}/api/v1/sql")).bearer_auth(ANALYST).body("  ").send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_in_the_prometheus_text_format() {
    let (addr, _stop) = start(options()).await;
    get(addr, "/api/v1/indicators", Some(DASHBOARD)).await;
    let (status, headers, text) = get(addr, "/metrics", Some(DASHBOARD)).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    // The latest year's national course runs, as the API has it.
    let (_, _, api) =
        get(addr, "/api/v1/indicators/course_runs?year=2024&level=national&breakdown=", Some(DASHBOARD)).await;
    let value = json(&api)[0]["value"].as_f64().unwrap();
    let line = format!(
        r#"lms_indicator_value{{breakdown="",hf="",indicator="course_runs",level="national",period="2024",rhf="",year="2024"}} {value}"#
    );
    assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    assert!(!text.contains(r#"year="2023""#), "only the latest year");
    // No suppressed cell has a gauge.
    let (_, _, all) = get(addr, "/api/v1/indicators/digital_share?year=2024", Some(DASHBOARD)).await;
    for r in json(&all).as_array().unwrap().iter().filter(|r| r["suppressed"] == true) {
        let labels = format!(
            r#"breakdown="{}",hf="{}",indicator="digital_share",level="{}",rhf="{}",year="2024""#,
            r["breakdown"].as_str().unwrap(),
            r["hf"].as_str().unwrap_or(""),
            r["level"].as_str().unwrap(),
            r["rhf"].as_str().unwrap_or("")
        );
        assert!(!text.contains(&labels), "suppressed cell exported: {labels}");
    }
    for name in [
        "lms_lake_version 1",
        // The one hook every read passes (`query::seen`): this test's value reads.
        "lms_reads_total{channel=\"values\",role=\"dashboard\"}",
        "lms_etl_rows_loaded_total{source=\"hv\"}",
        "lms_etl_rows_rejected_total{rule=\"duplicate_id\",source=\"hso\"}",
        "lms_etl_last_success_timestamp_seconds{source=\"hn\"}",
        "lms_etl_run_duration_seconds{source=\"hmn\"}",
        "lms_build_info{version=",
        "lms_http_requests_total{method=\"GET\",route=\"/api/v1/indicators\",status=\"200\"}",
        "lms_http_request_duration_seconds_bucket{route=\"/api/v1/indicators\",le=",
    ] {
        assert!(text.contains(name), "{name} not in /metrics");
    }
    if crate::have("promtool", "promtool check metrics") {
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokens_everyone_is_an_analyst_on_loopback() {
    let mut o = options();
    o.tokens = lms_server::Tokens::default();
    let (addr, _stop) = start(o).await;
    assert_eq!(get(addr, "/api/v1/runs", None).await.0, 200);
    let r = client().post(format!("http://{addr}/api/v1/sql")).body("SELECT 1 AS one").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), r#"[{"one":1}]"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_page() {
    let (addr, _stop) = start(options()).await;
    let (status, headers, html) = get(addr, "/?indicator=education_contacts_rate", Some(DASHBOARD)).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(html.contains("Kontakter med grupperettet pasientopplæring"));
    assert!(html.contains(r#"<svg class="bars""#) && html.contains(r#"<svg class="trend""#));
    assert!(!html.contains("http://") || !html.contains("<script src"), "no external resources");
    assert_eq!(get(addr, "/?indicator=nope", Some(DASHBOARD)).await.0, 404);
    // Without a credential: the sign-in form (tests in `session.rs`), not the browser's own dialog.
    let (status, headers, html) = get(addr, "/", None).await;
    assert_eq!(status, 401);
    assert!(headers.get("www-authenticate").is_none() && html.contains(r#"action="/signin""#), "{html}");
    // Basic with the token as password still works, for tools that send it.
    let r = client().get(format!("http://{addr}/")).basic_auth("someone", Some(DASHBOARD)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let tag = r.headers()["etag"].clone();
    let r = client()
        .get(format!("http://{addr}/"))
        .bearer_auth(DASHBOARD)
        .header("if-none-match", tag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
}

/// JSON-stat 2.0: every cell of the indicator API at its place in the cube, suppressed cells null
/// with their reason as status; PxWebApi-style selection; and a real JSON-stat reader (pyjstat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonstat_holds_every_cell_and_says_why_one_is_missing() {
    let (addr, _stop) = start(options()).await;
    let (status, _, body) = get(addr, "/api/v1/indicators/a0099_share/jsonstat", Some(DASHBOARD)).await;
    assert_eq!(status, 200, "{body}");
    let d = json(&body);
    assert_eq!((d["version"].as_str(), d["class"].as_str()), (Some("2.0"), Some("dataset")));
    assert_eq!(d["id"], serde_json::json!(["period", "unit", "breakdown"]));
    let size: Vec<usize> = d["size"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let values = d["value"].as_array().unwrap();
    assert_eq!(values.len(), size.iter().product::<usize>());
    let index = |dim: &str, code: &str| d["dimension"][dim]["category"]["index"][code].as_u64().unwrap() as usize;
    let (_, _, rows) = get(addr, "/api/v1/indicators/a0099_share?period=all", Some(DASHBOARD)).await;
    let rows = json(&rows);
    let rows = rows.as_array().unwrap();
    for r in rows {
        let unit = match r["level"].as_str().unwrap() {
            "national" => "national".to_string(),
            "rhf" => format!("rhf:{}", r["rhf"].as_str().unwrap()),
            _ => format!("hf:{}", r["hf"].as_str().unwrap()),
        };
        let breakdown = match r["breakdown"].as_str().unwrap() {
            "" => "total",
            b => b,
        };
        let at = (index("period", r["period"].as_str().unwrap()) * size[1] + index("unit", &unit)) * size[2]
            + index("breakdown", breakdown);
        if r["suppressed"] == true {
            assert!(values[at].is_null(), "{r}");
            assert_eq!(d["status"][at.to_string()], r["suppression_reason"], "{r}");
        } else {
            assert_eq!(values[at], r["value"], "{r}");
        }
    }
    let shown = values.iter().filter(|v| !v.is_null()).count();
    assert_eq!(
        shown + d["status"].as_object().unwrap().len(),
        rows.iter().filter(|r| !r["value"].is_null() || r["suppressed"] == true).count()
    );
    assert!(d["extension"]["legend"]["disclosure"]["en"].is_string());

    // Selection as PxWebApi v2 writes it.
    let (_, _, some) = get(
        addr,
        "/api/v1/indicators/a0099_share/jsonstat?valueCodes[period]=2024&valueCodes[unit]=national,rhf:HV&valueCodes[breakdown]=total",
        Some(DASHBOARD),
    )
    .await;
    let some = json(&some);
    assert_eq!(some["size"], serde_json::json!([1, 2, 1]));
    assert_eq!(get(addr, "/api/v1/indicators/a0099_share/jsonstat?year=2024", Some(DASHBOARD)).await.0, 400);

    // A JSON-stat reader: pyjstat (PyPI) turns the dataset into a table of the same values.
    if !crate::have_python("pyjstat", "the pyjstat reading of JSON-stat") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a0099_share.json");
    std::fs::write(&file, &body).unwrap();
    let script = "import sys\n\
                  from pyjstat import pyjstat\n\
                  df = pyjstat.Dataset.read(open(sys.argv[1]).read()).write('dataframe')\n\
                  print(len(df), int(df['value'].notna().sum()), ','.join(df.columns))";
    let out = std::process::Command::new("python3").args(["-c", script, file.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(text, format!("{} {shown} period,unit,breakdown,value", values.len()));
}
