//! No identity number past the ETL (issue #28): identity numbers planted where they do not belong —
//! in a text field, an id and a respondent of each region's deliveries (every dialect), and as a
//! JSON key — are found nowhere in the lake, the quarantine, the run records or the binary's log,
//! in any form they were typed in; the rows that carry them are quarantined by rule
//! `identity_number_in_text` with their line and column.

use std::collections::BTreeSet;

use crate::{demo, lms};

/// The forms a number is typed in: 11 digits, and 6 + 5 with a space, hyphen or dot.
fn forms(number: &str) -> [String; 4] {
    let (date, person) = number.split_at(6);
    [number.to_string(), format!("{date} {person}"), format!("{date}-{person}"), format!("{date}.{person}")]
}

/// The generator's planted numbers (generate/src/lib.rs, `plant`): synthetic test numbers of
/// 14 March 1962, plain and as a D-number.
fn planted() -> Vec<String> {
    let birth = chrono::NaiveDate::from_ymd_opt(1962, 3, 14).unwrap();
    [false, true]
        .into_iter()
        .map(|d| (100..500).find_map(|i| lms_schemas::identity::synthetic_number(birth, i, d)).unwrap())
        .collect()
}

#[test]
fn planted_identity_numbers_reach_no_file_record_or_log() {
    let (demo_dir, manifest) = demo();
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("in");
    for entry in crate::files_below(demo_dir) {
        let to = incoming.join(&entry);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(demo_dir.join(&entry), to).unwrap();
    }
    let numbers = planted();
    // One more, as a key of a JSON Lines delivery (HMN's dialect): a column the contract lacks.
    let key_number = {
        let birth = chrono::NaiveDate::from_ymd_opt(1977, 11, 2).unwrap();
        (300..500).find_map(|i| lms_schemas::identity::synthetic_number(birth, i, false)).unwrap()
    };
    let jsonl = std::fs::read_dir(incoming.join("HMN"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("_evaluation_2020-03"))
        .unwrap();
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut first: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&lines[0]).unwrap();
    first.insert(key_number.clone(), serde_json::Value::String("merknad".into()));
    lines[0] = serde_json::to_string(&first).unwrap();
    std::fs::write(&jsonl, lines.join("\n") + "\n").unwrap();

    // The inputs hold every planted number, each region's in the form the generator typed it.
    let inputs: String = crate::files_below(&incoming)
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(incoming.join(p)).unwrap()).into_owned())
        .collect();
    for n in numbers.iter().chain([&key_number]) {
        assert!(forms(n).iter().any(|f| inputs.contains(f.as_str())), "{n} is planted");
    }

    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let url = format!("file://{}", lake.display());
    let out = lms()
        .args(["--lake", &url, "etl", "run", "--incoming", incoming.to_str().unwrap()])
        .env("LMS_PSEUDONYM_KEY", "3c".repeat(32))
        .env("LMS_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut seen = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(seen.contains("columns not in the contract"), "the unknown key is logged, by place");
    // Every table, read back through the binary on the warehouse host (Parquet decoded), and every
    // other file of the lake (the log, run records, checkpoints) as it is.
    for table in ["activity", "coding", "evaluation", "quarantine", "deliveries", "runs"] {
        let out = lms()
            .args(["--lake", &url, "query", &format!("SELECT * FROM {table}"), "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{table}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.len() > 100, "{table} has rows");
        seen += &String::from_utf8_lossy(&out.stdout);
    }
    for p in crate::files_below(&lake).iter().filter(|p| p.extension().is_none_or(|e| e != "parquet")) {
        seen += &String::from_utf8_lossy(&std::fs::read(lake.join(p)).unwrap());
    }
    for n in numbers.iter().chain([&key_number]) {
        for f in forms(n) {
            assert!(!seen.contains(&f), "{f} was found past the ETL");
        }
    }

    // The rows are quarantined by the rule, masked, at the lines the manifest says.
    let expected: BTreeSet<(String, u64, String)> = manifest
        .files
        .iter()
        .flat_map(|f| f.planted.iter().map(move |p| (f, p)))
        .filter(|(_, p)| p.rule == lms_schemas::Rule::IdentityNumberInText)
        .map(|(f, p)| {
            let name = f.path.rsplit('/').next().unwrap().to_string();
            (name, p.line, p.column.clone().unwrap_or_default())
        })
        .collect();
    assert_eq!(expected.len(), 3 * 4, "an id, a title and a respondent in each region");
    let out = lms()
        .args([
            "--lake",
            &url,
            "query",
            "SELECT delivery, line, \"column\", value FROM quarantine WHERE rule = 'identity_number_in_text'",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    let got: BTreeSet<(String, u64, String)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert!(f[3].contains("<masked>"), "{l}");
            (f[0].to_string(), f[1].parse().unwrap(), f[2].to_string())
        })
        .collect();
    assert_eq!(got, expected);
}
