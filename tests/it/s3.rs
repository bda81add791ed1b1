//! The deployment's flow end to end on a real S3-protocol server (moto, started here), with the
//! deployment's own `deploy/lms.toml`: the buckets compose's `buckets` job creates, the demo extracts
//! placed in the four drops as its `demo-drops` job does, `lms etl run` from the drops into the S3
//! lake, `lms serve` over it with the deployment's tokens, and the indicators read back over HTTP.
//! Skipped, saying so, where `moto_server` is not installed (`.ci/run` installs it).

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

use crate::{demo, lms};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One plain HTTP request to moto (which takes unsigned requests); the status code.
fn request(port: u16, method: &str, path: &str, body: &[u8]) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[test]
fn demo_flow_on_s3_served_over_http() {
    // The deployment's PostgreSQL protocol is on TLS, so serving it needs a certificate.
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!(
            "SKIPPED the S3 end-to-end test: no openssl to make the deployment's certificate; .ci/run installs it"
        );
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = match Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => Moto(c),
        Err(e) => {
            eprintln!("SKIPPED the S3 end-to-end test: no moto_server ({e}); .ci/run installs it");
            return;
        }
    };
    let _moto = child;
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "moto_server did not start");
    // compose.yaml's `buckets` job, then its `demo-drops` job (`mc mirror /demo/HSO lms/drop-hso`, …).
    for bucket in ["lake", "drop-hso", "drop-hv", "drop-hmn", "drop-hn"] {
        assert_eq!(request(port, "PUT", &format!("/{bucket}"), b""), 200, "create bucket {bucket}");
    }
    let (incoming, _) = demo();
    for rhf in ["HSO", "HV", "HMN", "HN"] {
        for e in std::fs::read_dir(incoming.join(rhf)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let path = format!("/drop-{}/{}", rhf.to_lowercase(), name.replace(' ', "%20"));
            assert_eq!(request(port, "PUT", &path, &std::fs::read(&p).unwrap()), 200, "upload {name}");
        }
    }
    let deploy = crate::manifest_dir().join("deploy");
    let config = deploy.join("lms.toml");
    let token = std::fs::read_to_string(deploy.join("secrets.example/lms_dashboard_token")).unwrap();
    let token = token.trim();
    let endpoint = format!("http://127.0.0.1:{port}");
    let with_s3 = |c: &mut Command| {
        c.env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("LMS_PSEUDONYM_KEY", "ef".repeat(32))
            .env("LMS_CONFIG", &config);
    };
    let mut etl = lms();
    etl.args(["etl", "run"]);
    with_s3(&mut etl);
    let out = etl.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("committed lake version 1"));

    // The deployment serves the PostgreSQL protocol on TLS with compose's certificate: here one
    // made the same way, in a scratch directory.
    let tls = tempfile::tempdir().unwrap();
    let (cert, key) = (tls.path().join("cert.pem"), tls.path().join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=lms"])
        .args(["-keyout", key.to_str().unwrap(), "-out", cert.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let mut serve = lms();
    serve
        .args(["serve", "--no-schedule"])
        .env("LMS_SERVER_LISTEN", "127.0.0.1:0")
        .env("LMS_SERVER_FLIGHT_LISTEN", "127.0.0.1:0")
        .env("LMS_POSTGRES_LISTEN", "127.0.0.1:0")
        .env("LMS_POSTGRES_TLS_CERT", &cert)
        .env("LMS_POSTGRES_TLS_KEY", &key)
        .stdout(Stdio::piped());
    with_s3(&mut serve);
    let mut server = serve.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stdout.take().unwrap()), &mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap().to_string();
    let path = "/api/v1/indicators/participants?level=rhf&breakdown=&year=2021";
    let body = (0..100).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        crate::cli::http_request(&addr, path, Some(token)).filter(|(status, _)| *status == 200)
    });
    // The deployment has tokens, so a request without one is refused.
    let anonymous = crate::cli::http_request(&addr, path, None).map(|(status, _)| status);
    // The same cells over the PostgreSQL protocol, on TLS, with the dashboard token as password.
    let pg = line.split("postgresql://").nth(1).and_then(|r| r.split('/').next()).unwrap().to_string();
    let (pg_host, pg_port) = pg.rsplit_once(':').unwrap();
    let psql = Command::new("psql")
        .args(["-h", pg_host, "-p", pg_port, "-U", "grafana", "-d", "lms", "-X", "-A", "-t", "-F", "|", "-c"])
        .arg(
            "SELECT rhf, value FROM indicator_values WHERE indicator = 'participants' AND level = 'rhf' \
             AND breakdown = '' AND year = 2021 ORDER BY rhf",
        )
        .env("PGPASSWORD", token)
        .env("PGSSLMODE", "require")
        .output();
    let _ = Command::new("kill").args(["-INT", &server.id().to_string()]).status();
    let status = server.wait().unwrap();
    let (_, body) = body.expect("the server answered the dashboard token over the S3 lake");
    assert_eq!(anonymous, Some(401));
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    let regions: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["rhf"].as_str().unwrap()).collect();
    assert_eq!(regions, ["HMN", "HN", "HSO", "HV"], "{body}");
    let psql_ran = psql.is_ok();
    match psql {
        Ok(out) => {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let expected: Vec<(String, f64)> = rows
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r["rhf"].as_str().unwrap().to_string(), r["value"].as_f64().unwrap()))
                .collect();
            let got: Vec<(String, f64)> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| {
                    let (rhf, value) = l.split_once('|').unwrap();
                    (rhf.to_string(), value.parse().unwrap())
                })
                .collect();
            assert_eq!(got, expected);
        }
        Err(_) => eprintln!("SKIPPED the PostgreSQL part: psql is not installed (.ci/run installs it)"),
    }
    // The same figures as `lms query` reads from the S3 lake.
    let mut query = lms();
    query.args([
        "query",
        "SELECT rhf, value FROM indicator_values WHERE indicator = 'participants' AND level = 'rhf' \
         AND breakdown = '' AND year = 2021 ORDER BY rhf",
        "--format",
        "json",
    ]);
    with_s3(&mut query);
    let out = query.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let queried: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (a, b) in rows.as_array().unwrap().iter().zip(queried.as_array().unwrap()) {
        assert_eq!((&a["rhf"], &a["value"]), (&b["rhf"], &b["value"]));
    }
    assert!(status.success(), "the server stopped cleanly on SIGINT");

    // Every read above is in the access log in the bucket, and the chain verifies there.
    let audit = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = lms();
        c.args(args);
        with_s3(&mut c);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, log) = audit(&["audit", "log", "--format", "json"], &[]);
    assert_eq!(code, 0, "{log}");
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let has = |channel: &str, token: Option<&str>, outcome: &str| {
        lines.iter().any(|l| l["channel"] == channel && l["token"].as_str() == token && l["outcome"] == outcome)
    };
    assert!(has("http", Some("grafana-and-prometheus"), "ok") && has("http", None, "refused"), "{log}");
    assert!(lines.iter().any(|l| l["channel"] == "cli" && l["outcome"] == "ok" && l["role"] == "warehouse"), "{log}");
    if psql_ran {
        assert!(has("postgres", Some("grafana-and-prometheus"), "ok"), "{log}");
    }
    let (code, out) = audit(&["audit", "verify"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with(&format!("ok: {} lines", lines.len())), "{out}");
    // Retention deletes the old objects from the bucket, and what is left still verifies.
    let (code, out) = audit(&["lake", "vacuum", "--apply"], &[("LMS_RETENTION_AUDIT_DAYS", "0")]);
    assert_eq!(code, 0, "{out}");
    let (_, left) = audit(&["audit", "log", "--format", "json"], &[]);
    assert!(left.lines().count() < lines.len(), "{out}\n{left}");
    let (code, out) = audit(&["audit", "verify"], &[]);
    assert_eq!(code, 0, "{out}");
}
