//! The binary: exit codes, `lms check` output, determinism of `lms generate`.

use crate::{demo, files_below, lms};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = lms().args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn generate_twice_gives_byte_identical_files() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    for (dir, seed) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        let out = dir.path().to_str().unwrap();
        let (code, stdout, stderr) =
            run(&["generate", "--out", out, "--seed", seed, "--years", "2021", "--scale", "0.02"]);
        assert_eq!(code, 0, "{stdout}{stderr}");
    }
    let names = files_below(a.path());
    assert!(names.len() > 4 * 36, "a year of three extracts for four regions: {}", names.len());
    assert_eq!(names, files_below(b.path()));
    for n in &names {
        let (x, y) = (std::fs::read(a.path().join(n)).unwrap(), std::fs::read(b.path().join(n)).unwrap());
        assert!(x == y, "{} differs between two runs with the same seed", n.display());
    }
    let differing =
        names.iter().filter(|n| std::fs::read(a.path().join(n)).ok() != std::fs::read(c.path().join(n)).ok()).count();
    assert!(differing > names.len() / 2, "another seed gives other data ({differing} of {} differ)", names.len());
}

#[test]
fn check_exit_codes_and_output() {
    let (dir, manifest) = demo();
    let path = |p: &str| dir.join(p).to_str().unwrap().to_string();
    // A clean file: exit 0.
    let clean = manifest.files.iter().find(|f| f.path.starts_with("HV/HV_coding_2021") && f.rows > 0).unwrap();
    let (code, out, _) = run(&["check", "--extract", "coding", "--rhf", "HV", &path(&clean.path)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{} rows read, {} clean, 0 rejected", clean.rows, clean.rows)), "{out}");
    // The planted file: exit 1, one line per fault with line, column and rule, then the summary.
    let planted = manifest.files.iter().find(|f| f.path == "HN/HN_coding_2020-02.csv").unwrap();
    let (code, out, _) = run(&["check", "--extract", "coding", "--rhf", "HN", &path(&planted.path)]);
    assert_eq!(code, 1);
    for p in &planted.planted {
        let column = p.column.as_deref().map(|c| format!("{c}: ")).unwrap_or_default();
        let expected = format!("HN_coding_2020-02.csv:{}: {column}{}: expected", p.line, p.rule);
        assert!(out.contains(&expected), "missing `{expected}` in\n{out}");
    }
    let rejected = planted.planted.iter().map(|p| p.line).collect::<std::collections::BTreeSet<u64>>().len();
    assert!(out.contains(&format!("{rejected} rejected")), "{out}");
    assert!(
        !out.chars().collect::<Vec<_>>().windows(11).any(|w| w.iter().all(char::is_ascii_digit)),
        "no identity number in the output"
    );
    // JSON lines: one object per violation, the summary last.
    let (code, out, _) =
        run(&["check", "--extract", "coding", "--rhf", "HN", "--format", "json", &path(&planted.path)]);
    assert_eq!(code, 1);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), planted.planted.len() + 1);
    assert_eq!(lines.last().unwrap()["summary"]["rows_rejected"], rejected);
    // A file rejected whole: exit 1 with the rule.
    let (code, out, _) = run(&["check", "--extract", "coding", "--rhf", "HV", &path("HV/HV_kodning_2020-06.csv")]);
    assert_eq!(code, 1);
    assert!(out.contains("file rejected: file_name"), "{out}");
    // Usage errors: exit 2.
    assert_eq!(run(&["check", "--extract", "kurs", "--rhf", "HV", &path(&clean.path)]).0, 2);
    assert_eq!(run(&["check", "--extract", "coding", "--rhf", "XX", &path(&clean.path)]).0, 2);
    assert_eq!(run(&["check", "--extract", "coding", "--rhf", "HV", "/no/such/file.csv"]).0, 2);
    assert_eq!(run(&["check", "--rhf", "HV"]).0, 2);
}

#[test]
fn serve_without_sources_is_a_usage_error_unless_told_not_to_schedule() {
    let (code, _, err) = run(&["serve"]);
    assert_eq!(code, 2, "no sources configured: {err}");
    assert!(err.contains("--no-schedule"), "{err}");
}

#[test]
fn bad_configuration_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lms.toml");
    std::fs::write(&config, "[lake]\nurl = \"ftp://x\"\n").unwrap();
    let (code, _, err) = run(&["--config", config.to_str().unwrap(), "status"]);
    assert_eq!(code, 2);
    assert!(err.contains("[lake] url"), "{err}");
    // A target of an indicator the catalogue does not have.
    std::fs::write(
        &config,
        "[[target]]\nindicator = \"a0099_shares\"\nbetter = \"higher\"\ngood = 0.9\nacceptable = 0.8\n",
    )
    .unwrap();
    let (code, _, err) = run(&["--config", config.to_str().unwrap(), "status"]);
    assert_eq!(code, 2);
    assert!(err.contains("[[target]] a0099_shares: no such indicator"), "{err}");
}

#[test]
fn etl_run_loads_the_incoming_deliveries_and_status_shows_them() {
    let (dir, manifest) = demo();
    let work = tempfile::tempdir().unwrap();
    let lake = format!("file://{}", work.path().join("lake").display());
    let incoming = dir.to_str().unwrap();
    // Without a key there is nothing to pseudonymise with: a usage error.
    let out = lms()
        .args(["etl", "run", "--incoming", incoming, "--lake", &lake])
        .env_remove("LMS_PSEUDONYM_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LMS_PSEUDONYM_KEY"));

    let key = "ab".repeat(32);
    let run = |args: &[&str]| {
        let out = lms().args(args).env("LMS_PSEUDONYM_KEY", &key).output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["etl", "run", "--incoming", incoming, "--lake", &lake]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("committed lake version 1"), "{out}");
    // Every source's row: files processed and rows, as the manifest has them.
    for rhf in ["hso", "hv", "hmn", "hn"] {
        let files = manifest.files.iter().filter(|f| f.rhf.to_lowercase() == rhf).count();
        let read: u64 =
            manifest.files.iter().filter(|f| f.rhf.to_lowercase() == rhf && f.rejected.is_none()).map(|f| f.rows).sum();
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{rhf} ")))
            .unwrap_or_else(|| panic!("{rhf} in {out}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], files.to_string(), "{line}");
        assert_eq!(cols[3], read.to_string(), "{line}");
    }
    let (code, out, _) = run(&["etl", "run", "--incoming", incoming, "--lake", &lake]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing new"), "{out}");
    // The loaded rows are queryable, read-only.
    let expected: u64 = manifest
        .files
        .iter()
        .filter(|f| f.path.contains("_coding_") && f.rejected.is_none() && f.superseded_by.is_none())
        .map(|f| f.expected_loaded())
        .sum();
    let (code, out, err) = run(&["query", "SELECT count(*) AS n FROM coding", "--format", "json", "--lake", &lake]);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["n"], expected, "{out}");
    let (code, out, _) = run(&[
        "query",
        "SELECT rhf, count(*) AS n FROM deliveries GROUP BY rhf ORDER BY rhf",
        "--format",
        "csv",
        "--lake",
        &lake,
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with("rhf,n\n"), "{out}");
    // List columns (the special codes) are written as JSON text, not refused.
    let sql = "SELECT saerkoder FROM coding WHERE array_has(saerkoder, 'A0099') LIMIT 2";
    let (code, out, err) = run(&["query", sql, "--format", "csv", "--lake", &lake]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "saerkoder");
    for line in &lines[1..] {
        // CSV's quoting undone, the field is a JSON array holding A0099.
        let field = line.trim_matches('"').replace("\"\"", "\"");
        let codes: Vec<String> = serde_json::from_str(&field).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(codes.iter().any(|c| c == "A0099"), "{line}");
    }
    let (code, _, err) = run(&["query", "DROP TABLE coding", "--lake", &lake]);
    assert_eq!(code, 2);
    assert!(err.contains("read-only"), "{err}");
    // Each query on the host is in the access log, channel `cli`, the statement and its tables, the
    // rows it answered; the refused one as refused. The chain verifies, and a changed byte is found.
    let (code, out, err) = run(&["audit", "log", "--format", "json", "--lake", &lake]);
    assert_eq!(code, 0, "{err}");
    let logged: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cli: Vec<&serde_json::Value> = logged.iter().filter(|l| l["channel"] == "cli").collect();
    assert_eq!(cli.len(), 4, "{out}");
    assert_eq!(cli[0]["what"], "SELECT count(*) AS n FROM coding");
    assert_eq!(
        (&cli[0]["tables"], &cli[0]["rows"], &cli[0]["outcome"]),
        (&serde_json::json!(["coding"]), &serde_json::json!(1), &serde_json::json!("ok"))
    );
    assert_eq!(cli[0]["role"], "warehouse");
    assert_eq!(cli[1]["tables"], serde_json::json!(["deliveries"]));
    assert_eq!(cli[2]["rows"], 2);
    assert_eq!(
        (&cli[3]["what"], &cli[3]["outcome"]),
        (&serde_json::json!("DROP TABLE coding"), &serde_json::json!("refused"))
    );
    let (code, out, _) = run(&["audit", "verify", "--lake", &lake]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: 4 lines"), "{out}");
    let log_dir = work.path().join("lake").join("_audit").join("log");
    let objects = files_below(&log_dir);
    let second =
        log_dir.join(objects.iter().find(|p| p.ends_with("00000000000000000002.jsonl")).expect("seq 2's object"));
    let text = std::fs::read_to_string(&second).unwrap();
    std::fs::write(&second, text.replace("\"deliveries\"]", "\"Deliveries\"]")).unwrap();
    let (code, out, _) = run(&["audit", "verify", "--lake", &lake]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("(seq 3)") && out.contains("prev does not match"), "{out}");
    std::fs::write(&second, text).unwrap();
    // Retention of the log: with no day kept, every object but the newest goes, after a cut that
    // keeps the rest checkable.
    let vacuum = |apply: bool| {
        let mut args = vec!["lake", "vacuum", "--lake", &lake];
        if apply {
            args.push("--apply");
        }
        let out = lms().args(&args).env("LMS_RETENTION_AUDIT_DAYS", "0").output().unwrap();
        (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, out) = vacuum(false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("access-log objects past 0 days: 3") && out.contains("nothing deleted"), "{out}");
    let (code, out) = vacuum(true);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("and 3 access-log objects"), "{out}");
    assert_eq!(files_below(&log_dir).len(), 1);
    let (code, out, _) = run(&["audit", "verify", "--lake", &lake]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: 1 lines in 1 objects, seq 4 to 4"), "{out}");
    let (code, out, _) = run(&["status", "--lake", &lake]);
    assert_eq!(code, 0);
    assert!(out.contains("at version 1"), "{out}");
    let digest = |status: &str| {
        let line = status.lines().find(|l| l.trim_start().starts_with("published tables ")).expect("a digest line");
        line.split_whitespace().nth(2).unwrap().to_string()
    };
    let published = digest(&out);
    assert!(published.starts_with("sha256:") && published.len() == 71, "{out}");
    assert!(out.contains("built from min_count=5;min_coverage=0.75;sql="), "{out}");
    let reference = format!("reference data version {}", lms_queries::publish::reference_version());
    assert!(out.contains(&reference), "{out}");
    for rhf in ["HSO", "HV", "HMN", "HN"] {
        assert!(out.contains(&format!("{rhf:<4} coding      2021-12")), "{out}");
    }
    // The pass built the published tables into version 1; `etl publish` rebuilds them as version 2.
    let count = "SELECT count(*) AS n FROM indicator_values WHERE NOT suppressed AND level = 'national'";
    let (code, out, err) = run(&["query", count, "--format", "json", "--lake", &lake]);
    assert_eq!(code, 0, "{err}");
    let before: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(before[0]["n"].as_u64().unwrap() > 50, "{out}");
    // With the build's log line, which says which years were rebuilt.
    let publish = |args: &[&str]| {
        let out = lms().args(args).env("LMS_LOG", "lms_queries=info").output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
        (out.status.code().unwrap(), text(&out.stdout), text(&out.stderr))
    };
    let (code, out, err) = publish(&["etl", "publish", "--lake", &lake]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("lake version 2"), "{out}");
    // No coding or activity file changed since version 1: no year rebuilt (the log says which).
    assert!(err.contains("rebuilt_years=none"), "{err}");
    let (_, out, _) = run(&["query", count, "--format", "json", "--lake", &lake]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), before);
    // Nothing changed: the same figures, the same digest (at another version).
    let (_, out, _) = run(&["status", "--lake", &lake]);
    assert!(out.contains("at version 2"), "{out}");
    assert_eq!(digest(&out), published, "{out}");
    // `--full` rebuilds every year, to the same figures.
    let (code, out, err) = publish(&["etl", "publish", "--full", "--lake", &lake]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("lake version 3") && err.contains("rebuilt_years=all"), "{out}{err}");
    let (_, out, _) = run(&["status", "--lake", &lake]);
    assert_eq!(digest(&out), published, "{out}");

    // Key rotation: the new key's file then holds the chain; the old key alone is refused; the
    // chain loads, and the published figures are those before.
    let new_key = work.path().join("new.key");
    std::fs::write(&new_key, "cd".repeat(32)).unwrap();
    let (code, out, err) = run(&["etl", "rekey", "--new-key-file", new_key.to_str().unwrap(), "--lake", &lake]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("lake version 4") && out.contains("now holds the key chain"), "{out}");
    assert_eq!(std::fs::read_to_string(&new_key).unwrap(), format!("{}\n{}\n", key, "cd".repeat(32)));
    let (code, _, err) = run(&["etl", "run", "--incoming", incoming, "--lake", &lake]);
    assert_ne!(code, 0);
    assert!(err.contains("pseudonymisation key"), "{err}");
    let out = lms()
        .args(["etl", "run", "--incoming", incoming, "--lake", &lake])
        .env_remove("LMS_PSEUDONYM_KEY")
        .env("LMS_PSEUDONYM_KEY_FILE", &new_key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing new"));
    let (_, out, _) = run(&["status", "--lake", &lake]);
    assert_eq!(digest(&out), published, "{out}");
}

#[test]
fn serve_runs_the_etl_schedule_until_interrupted() {
    let (dir, _) = demo();
    let work = tempfile::tempdir().unwrap();
    let lake = work.path().join("lake");
    let config = work.path().join("lms.toml");
    std::fs::write(
        &config,
        format!(
            "[lake]\nurl = \"file://{}\"\n[[source]]\nname = \"hv\"\nrhf = \"HV\"\nurl = \"file://{}\"\nschedule = \"*/2 * * * * *\"\n",
            lake.display(),
            dir.join("HV").display()
        ),
    )
    .unwrap();
    let mut child = lms()
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("LMS_PSEUDONYM_KEY", "cd".repeat(32))
        .env("LMS_SERVER_LISTEN", "127.0.0.1:0")
        .env("LMS_SERVER_FLIGHT_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The address it prints is the one it bound (port 0 picks a free one).
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let addr =
        line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap_or_else(|| panic!("{line}")).to_string();
    // The catch-up pass at start commits version 1.
    let first_commit = lake.join("_log").join(format!("{:020}.json", 1));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !first_commit.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(first_commit.exists(), "the schedule loaded the source");
    // The server answers on that address, and takes the new version up.
    let ready = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        http_get(&addr, "/readyz").is_some_and(|body| body.contains("\"version\":1"))
    });
    assert!(ready, "the server serves version 1");
    std::thread::sleep(std::time::Duration::from_millis(2500)); // at least one more tick
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let runs = std::fs::read_dir(lake.join("_runs")).unwrap().count();
    assert!(runs >= 2, "{runs} passes recorded");
    assert!(!lake.join("_log").join(format!("{:020}.json", 2)).exists(), "later ticks found nothing new");
}

/// A GET over a plain TCP connection (the binary's tests have no HTTP client): the body on 200.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    http_request(addr, path, None).and_then(|(status, body)| (status == 200).then_some(body))
}

/// One GET, with a bearer token if given: the status code and the body (`None` if nothing answered).
pub fn http_request(addr: &str, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()))
}

/// The access log's promise, on the real binary: a server killed (SIGKILL) while answering has a
/// line for every read whose answer a client received, and its chain still verifies.
#[test]
fn a_killed_server_has_logged_every_answer_it_sent() {
    let (dir, _) = demo();
    let work = tempfile::tempdir().unwrap();
    let lake = format!("file://{}", work.path().join("lake").display());
    let out = lms()
        .args(["etl", "run", "--incoming", dir.to_str().unwrap(), "--lake", &lake])
        .env("LMS_PSEUDONYM_KEY", "ab".repeat(32))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut child = lms()
        .args(["serve", "--no-schedule", "--lake", &lake])
        .env("LMS_SERVER_LISTEN", "127.0.0.1:0")
        .env("LMS_SERVER_FLIGHT_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap().to_string();
    let ready = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        http_get(&addr, "/readyz").is_some()
    });
    assert!(ready);
    // Four clients read until the server is killed under them; each notes the answers it got.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (addr, stop) = (addr.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut answered = Vec::new();
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let path = format!("/api/v1/indicators/participants?level=national&from={}", c * 1_000_000 + i);
                    match http_request(&addr, &path, None) {
                        Some((200, body)) if body.ends_with(']') => answered.push(path),
                        _ => break,
                    }
                }
                answered
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert!(answered.len() > 50, "{} answers before the kill", answered.len());
    let (code, log, err) = run(&["audit", "log", "--format", "json", "--lake", &lake]);
    assert_eq!(code, 0, "{err}");
    let logged: std::collections::BTreeSet<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["what"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<&String> = answered.iter().filter(|a| !logged.contains(*a)).collect();
    assert!(missing.is_empty(), "{} answers without a line, e.g. {:?}", missing.len(), missing.first());
    let (code, out, _) = run(&["audit", "verify", "--lake", &lake]);
    assert_eq!(code, 0, "{out}");
}
