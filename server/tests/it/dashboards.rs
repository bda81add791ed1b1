//! The deployment's dashboards ask only for what the server serves: every Infinity query of every
//! dashboard in `deploy/grafana/dashboards` is run against the server, and every PostgreSQL query
//! over its PostgreSQL protocol with `psql` (with the dashboard role, as Grafana's data sources have
//! it), and must answer rows; every PromQL metric must be one `/metrics` exposes, every indicator
//! named in a query one of the catalogue. No registry here ships a Grafana server, so the dashboards
//! are type-checked against Grafana's own dashboard and panel types (`@grafana/schema`, with
//! `tsc`), and `docker compose config` accepts `compose.yaml` where Docker's compose plugin is
//! installed.

use std::path::{Path, PathBuf};

use crate::{DASHBOARD, get, options};

fn deploy() -> PathBuf {
    crate::manifest_dir().join("../deploy")
}

/// Every query target of every panel: (dashboard file, datasource type, target JSON).
fn targets() -> Vec<(String, String, serde_json::Value)> {
    let mut out = Vec::new();
    let mut files: Vec<_> =
        std::fs::read_dir(deploy().join("grafana/dashboards")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 5, "national trend, regional variation, equity, Sami services, data freshness");
    for f in files {
        let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(d["uid"].is_string() && d["title"].is_string(), "{name}");
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                out.push((name.clone(), t["datasource"]["type"].as_str().unwrap().to_string(), t.clone()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_names_what_the_server_serves() {
    let (addr, pg) = crate::postgres::start(options(), None).await;
    let psql = crate::have("psql", "the dashboards' PostgreSQL queries");
    let mut sql = 0;
    let ids: Vec<&str> = lms_queries::catalogue::embedded().iter().map(|i| i.id.as_str()).collect();
    let mut infinity = 0;
    let mut promql = 0;
    // The Infinity queries first: they are also the requests the HTTP metrics then count.
    let mut targets = targets();
    targets.sort_by_key(|t| t.1 == "prometheus");
    let mut metrics = String::new();
    for (file, kind, t) in targets {
        if kind == "prometheus" && metrics.is_empty() {
            metrics = get(addr, "/metrics", Some(DASHBOARD)).await.2;
        }
        let served: Vec<&str> =
            metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect();
        match kind.as_str() {
            "yesoreyeram-infinity-datasource" => {
                infinity += 1;
                let url = t["url"].as_str().unwrap().replace("$year", "2024");
                let id = url.trim_start_matches("/api/v1/indicators/").trim_start_matches("/api/v1/variation/");
                let id = id.split('?').next().unwrap().trim_end_matches("/funnel");
                assert!(ids.contains(&id), "{file}: {url} names no indicator of the catalogue");
                let (status, _, body) = get(addr, &url, Some(DASHBOARD)).await;
                assert_eq!(status, 200, "{file}: {url}: {body}");
                let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert!(!rows.as_array().unwrap().is_empty(), "{file}: {url} answers no rows");
                for c in t["columns"].as_array().unwrap() {
                    let column = c["selector"].as_str().unwrap();
                    assert!(rows[0].get(column).is_some(), "{file}: {url} has no column {column}");
                }
            }
            "prometheus" => {
                promql += 1;
                let expr = t["expr"].as_str().unwrap();
                for name in metric_names(expr) {
                    assert!(served.contains(&name.as_str()), "{file}: {expr}: `{name}` is not in /metrics");
                }
                for id in indicator_labels(expr) {
                    assert!(ids.contains(&id.as_str()), "{file}: {expr}: no indicator `{id}`");
                }
            }
            "grafana-postgresql-datasource" => {
                sql += 1;
                let query = t["rawSql"].as_str().unwrap();
                assert!(!query.contains('$'), "{file}: {query}: macros and variables are not run here");
                if psql {
                    let (code, out, err) = crate::postgres::psql(pg, DASHBOARD, "disable", query).await;
                    assert_eq!(code, 0, "{file}: {query}: {err}");
                    assert!(!out.trim().is_empty(), "{file}: {query} answers no rows");
                }
            }
            other => panic!("{file}: data source {other}"),
        }
    }
    assert!(infinity >= 10 && promql >= 8 && sql >= 1, "{infinity} Infinity, {promql} PromQL, {sql} SQL queries");
}

/// `lms_…` metric names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("lms_") {
        let tail = &rest[i..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// Values of `indicator="…"` in a PromQL expression.
fn indicator_labels(expr: &str) -> Vec<String> {
    expr.split("indicator=\"").skip(1).filter_map(|s| s.split('"').next()).map(str::to_string).collect()
}

#[test]
fn compose_config_is_accepted() {
    let ok =
        std::process::Command::new("docker").args(["compose", "version"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED docker compose config: Docker's compose plugin is not installed");
        return;
    }
    // A copy of the repository's deployment files with the example secrets in place.
    let dir = tempfile::tempdir().unwrap();
    let root = crate::manifest_dir().join("..");
    std::fs::copy(root.join("compose.yaml"), dir.path().join("compose.yaml")).unwrap();
    std::fs::copy(root.join("deploy/env.example"), dir.path().join(".env")).unwrap();
    let status =
        std::process::Command::new("cp").args(["-r"]).arg(root.join("deploy")).arg(dir.path()).status().unwrap();
    assert!(status.success());
    std::fs::create_dir_all(dir.path().join("deploy/secrets")).unwrap();
    std::fs::copy(
        root.join("deploy/secrets.example/lms_dashboard_token"),
        dir.path().join("deploy/secrets/lms_dashboard_token"),
    )
    .unwrap();
    let config = |dir: &Path| {
        std::process::Command::new("docker")
            .args(["compose", "config", "--format", "json"])
            .current_dir(dir)
            .output()
            .unwrap()
    };
    let out = config(dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let resolved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Each service gets only the secrets it needs: the pseudonymisation key reaches lms alone.
    let holders = |var: &str| -> Vec<String> {
        let services = resolved["services"].as_object().unwrap();
        let mut v: Vec<String> =
            services.iter().filter(|(_, s)| s["environment"].get(var).is_some()).map(|(n, _)| n.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(holders("LMS_PSEUDONYM_KEY"), ["lms"]);
    assert_eq!(holders("LMS_DASHBOARD_TOKEN"), ["grafana"]);
    assert_eq!(holders("MINIO_ROOT_PASSWORD"), ["buckets", "demo-drops", "minio"]);
    assert_eq!(holders("GF_SECURITY_ADMIN_PASSWORD"), ["grafana"]);
    // A secret missing from .env stops compose, naming it.
    let env = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    let without: String =
        env.lines().filter(|l| !l.starts_with("LMS_PSEUDONYM_KEY=")).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join(".env"), without).unwrap();
    let out = config(dir.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("LMS_PSEUDONYM_KEY"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The dashboards against Grafana's types: `deploy/grafana/schema-check` writes each dashboard and
/// panel as a TypeScript constant that must satisfy `@grafana/schema`'s type for it (the core
/// panels' own options), and `tsc` checks them. A dashboard with a misplaced option must fail.
#[test]
fn dashboards_have_grafanas_types() {
    let dir = deploy().join("grafana/schema-check");
    if !dir.join("node_modules/@grafana/schema").is_dir() || !crate::have("node", "the dashboards' type check") {
        eprintln!("SKIPPED the dashboards' type check: run `npm ci` in deploy/grafana/schema-check (.ci/run does)");
        return;
    }
    let check = |files: &[PathBuf]| {
        let generated =
            std::process::Command::new("node").arg("gen.mjs").args(files).current_dir(&dir).output().unwrap();
        assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
        let tsc = std::process::Command::new("node")
            .args(["node_modules/typescript/bin/tsc", "-p", "."])
            .current_dir(&dir)
            .output()
            .unwrap();
        (tsc.status.success(), String::from_utf8_lossy(&tsc.stdout).to_string())
    };
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(deploy().join("grafana/dashboards")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let (ok, out) = check(&files);
    assert!(ok, "{out}");
    // The check can fail: a panel's height given as text.
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.json");
    let mut d: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploy().join("grafana/dashboards/national-trend.json")).unwrap(),
    )
    .unwrap();
    d["panels"][0]["gridPos"]["h"] = serde_json::json!("8");
    std::fs::write(&broken, d.to_string()).unwrap();
    let (ok, out) = check(std::slice::from_ref(&broken));
    assert!(!ok && out.contains("generated/broken.ts") && out.contains("not assignable to type 'number'"), "{out}");
    let (ok, _) = check(&files);
    assert!(ok, "the real dashboards again");
}
