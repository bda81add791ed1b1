//! A real Prometheus scrapes `/metrics` and answers a PromQL query for one indicator.

use std::time::Duration;

use crate::{DASHBOARD, get, options, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_and_answers_promql() {
    if !crate::have("prometheus", "the Prometheus scrape test") {
        return;
    }
    let (addr, _stop) = start(options()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, DASHBOARD).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: lms\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: ['{addr}']\n",
        token.display()
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = {
        let c = std::mem::replace(&mut child, std::process::Command::new("true").spawn().unwrap());
        Kill(c)
    };
    let (_, _, api) =
        get(addr, "/api/v1/indicators/participants?year=2024&level=national&breakdown=", Some(DASHBOARD)).await;
    let expected = serde_json::from_str::<serde_json::Value>(&api).unwrap()[0]["value"].as_f64().unwrap();
    let query = r#"lms_indicator_value{indicator="participants",level="national",breakdown=""}"#;
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    let mut last = String::new();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(r) = reqwest::Client::new().get(&url).query(&[("query", query)]).send().await else { continue };
        last = r.text().await.unwrap_or_default();
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&last) else { continue };
        if let Some(sample) = v["data"]["result"].as_array().and_then(|r| r.first()) {
            let got: f64 = sample["value"][1].as_str().unwrap().parse().unwrap();
            assert_eq!(got, expected, "{last}");
            assert_eq!(sample["metric"]["year"], "2024");
            return;
        }
    }
    panic!("Prometheus never had the series: {last}");
}
