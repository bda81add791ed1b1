//! The access log: one chain over every writer, objects written once, and `verify` finding a
//! changed byte, a removed line and a removed object.

use std::collections::BTreeSet;

use lms_lake::access::{self, AccessLog, GENESIS, Outcome, Read};

use crate::lake_in;

fn read(who: &str, what: String) -> Read {
    Read {
        token: Some(who.to_string()),
        role: Some("analyst".into()),
        channel: "http".into(),
        client: Some("127.0.0.1:5000".into()),
        what,
        tables: vec!["indicator_values".into()],
        rows: 3,
        outcome: Outcome::Ok,
    }
}

/// Two logs on one lake (as two processes would be), 60 reads each at once.
async fn two_writers(lake: &lms_lake::Lake) -> Vec<(String, u64)> {
    let (a, b) = (AccessLog::new(lake), AccessLog::new(lake));
    let mut tasks = Vec::new();
    for i in 0..60 {
        for (log, who) in [(a.clone(), "a"), (b.clone(), "b")] {
            tasks.push(tokio::spawn(async move {
                let what = format!("/api/v1/indicators/x?n={i}&by={who}");
                (what.clone(), log.record(read(who, what)).await.unwrap())
            }));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_writer_appends_to_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(dir.path());
    let recorded = two_writers(&lake).await;
    let lines = access::lines(&lake).await.unwrap();
    assert_eq!(lines.len(), 120);
    // Seqs 1..=120, each once, and each read got back the seq of its own line.
    assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), (1..=120).collect::<Vec<_>>());
    for (what, seq) in &recorded {
        assert_eq!(&lines[*seq as usize - 1].read.what, what);
    }
    assert_eq!(recorded.iter().map(|r| r.1).collect::<BTreeSet<_>>().len(), 120);
    // The chain: the first prev is the genesis, every other the hash of the line before it as
    // written (recomputed here from the objects' bytes).
    assert_eq!(lines[0].prev, GENESIS);
    let mut raw = Vec::new();
    for o in access::objects(&lake).await.unwrap() {
        let text = std::fs::read_to_string(dir.path().join("lake").join(&o.path)).unwrap();
        assert_eq!(
            o.first_seq,
            serde_json::from_str::<serde_json::Value>(text.lines().next().unwrap()).unwrap()["seq"]
        );
        raw.extend(text.lines().map(str::to_string));
    }
    for i in 1..raw.len() {
        use sha2::Digest;
        assert_eq!(lines[i].prev, hex::encode(sha2::Sha256::digest(raw[i - 1].as_bytes())));
    }
    let v = access::verify(&lake).await.unwrap();
    assert_eq!(v.broken, None);
    assert_eq!((v.lines, v.from_seq), (120, 1));
    assert_eq!(v.head.as_ref().unwrap().0, 120);
    // The fields as interfaces.md orders them.
    let keys: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&raw[0]).unwrap().keys().cloned().collect();
    let expected = ["seq", "time", "token", "role", "channel", "client", "what", "tables", "rows", "outcome", "prev"];
    let mut sorted_expected = expected.map(String::from).to_vec();
    sorted_expected.sort();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, sorted_expected);
    assert!(raw[0].starts_with("{\"seq\":"), "seq first: {}", raw[0]);
}

/// A lake with a log of three objects, written one read at a time.
async fn three_objects(dir: &std::path::Path) -> (lms_lake::Lake, Vec<access::LogObject>) {
    let lake = lake_in(dir);
    let log = AccessLog::new(&lake);
    for i in 0..3 {
        // Two reads at once go in one object (or two); one at a time each in its own.
        log.record(read("a", format!("/first/{i}"))).await.unwrap();
        log.record(read("a", format!("/second/{i}"))).await.unwrap();
    }
    let objects = access::objects(&lake).await.unwrap();
    assert_eq!(objects.len(), 6, "one read at a time, one object each");
    (lake, objects)
}

#[tokio::test]
async fn verify_finds_a_changed_byte_a_removed_line_and_a_removed_object() {
    // A changed byte in line 2's `rows`: the line still reads, but line 3's prev no longer matches.
    let dir = tempfile::tempdir().unwrap();
    let (lake, objects) = three_objects(dir.path()).await;
    let file = dir.path().join("lake").join(&objects[1].path);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("\"rows\":3", "\"rows\":4")).unwrap();
    let broken = access::verify(&lake).await.unwrap().broken.expect("found");
    assert_eq!((broken.seq, broken.object.as_str(), broken.line), (3, objects[2].path.as_str(), 1), "{broken}");
    assert!(broken.reason.contains("prev does not match"), "{broken}");
    assert!(broken.reason.contains(&objects[1].path), "names the line before: {broken}");

    // A removed line: three reads recorded at once go in one object (the writer runs when the test
    // task waits, and finds all three queued); the middle one is taken out.
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(dir.path());
    let log = AccessLog::new(&lake);
    let (x, y, z) = tokio::join!(
        log.record(read("a", "/1".into())),
        log.record(read("a", "/2".into())),
        log.record(read("a", "/3".into()))
    );
    assert_eq!((x.unwrap(), y.unwrap(), z.unwrap()), (1, 2, 3));
    log.record(read("a", "/4".into())).await.unwrap();
    let objects = access::objects(&lake).await.unwrap();
    assert_eq!(objects.len(), 2);
    let first = dir.path().join("lake").join(&objects[0].path);
    let text = std::fs::read_to_string(&first).unwrap();
    assert_eq!(text.lines().count(), 3);
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("{\"seq\":2,")).collect();
    std::fs::write(&first, kept.join("\n") + "\n").unwrap();
    let broken = access::verify(&lake).await.unwrap().broken.expect("found");
    assert_eq!((broken.seq, broken.line), (2, 2), "{broken}");
    assert!(broken.reason.contains("lines 2..2 are missing"), "{broken}");

    // A removed object: the middle one.
    let dir = tempfile::tempdir().unwrap();
    let (lake, objects) = three_objects(dir.path()).await;
    std::fs::remove_file(dir.path().join("lake").join(&objects[3].path)).unwrap();
    let broken = access::verify(&lake).await.unwrap().broken.expect("found");
    assert_eq!((broken.seq, broken.object.as_str()), (4, objects[4].path.as_str()), "{broken}");
    assert!(broken.reason.contains("lines 4..4 are missing"), "{broken}");

    // Untouched, it verifies; the head is the last line.
    let dir = tempfile::tempdir().unwrap();
    let (lake, _) = three_objects(dir.path()).await;
    let v = access::verify(&lake).await.unwrap();
    assert_eq!((v.broken, v.lines, v.objects), (None, 6, 6));
}

#[tokio::test]
async fn retention_cuts_the_chain_at_an_object_and_verify_starts_there() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, objects) = three_objects(dir.path()).await;
    let after_all = chrono::Utc::now() + chrono::Duration::seconds(1);
    // Listed, not deleted: every object but the newest is past the cut-off.
    let listed = access::expire(&lake, after_all, false).await.unwrap();
    assert_eq!(listed.objects, objects[..5].iter().map(|o| o.path.clone()).collect::<Vec<_>>());
    assert_eq!((listed.next_seq, listed.deleted), (Some(6), false));
    assert_eq!(access::objects(&lake).await.unwrap().len(), 6);
    // Nothing is older than a time before the first write.
    let none = access::expire(&lake, objects[0].last_modified - chrono::Duration::seconds(1), true).await.unwrap();
    assert!(none.objects.is_empty() && !none.deleted);

    let first = dir.path().join("lake").join(&objects[0].path);
    let first_bytes = std::fs::read(&first).unwrap();
    let done = access::expire(&lake, after_all, true).await.unwrap();
    assert!(done.deleted);
    assert_eq!(access::objects(&lake).await.unwrap().len(), 1);
    let v = access::verify(&lake).await.unwrap();
    assert_eq!((v.broken.clone(), v.from_seq, v.lines), (None, 6, 1), "{v:?}");
    // A retention stopped after its cut, before a delete, leaves an object below the cut: the chain
    // still verifies from the cut, and the next retention deletes the left-over.
    std::fs::write(&first, &first_bytes).unwrap();
    let v = access::verify(&lake).await.unwrap();
    assert_eq!((v.broken.clone(), v.from_seq, v.lines), (None, 6, 1), "{v:?}");
    let again = access::expire(&lake, objects[0].last_modified - chrono::Duration::seconds(1), true).await.unwrap();
    assert_eq!(again.objects, vec![objects[0].path.clone()]);
    assert!(!first.exists());
    // The chain goes on after the cut, from a new writer too.
    AccessLog::new(&lake).record(read("b", "/after".into())).await.unwrap();
    let v = access::verify(&lake).await.unwrap();
    assert_eq!((v.broken, v.lines, v.head.map(|h| h.0)), (None, 2, Some(7)));
    let lines = access::lines(&lake).await.unwrap();
    assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), vec![6, 7]);
    // Removing the first kept object is still found: the cut says the chain starts at 6.
    let first = access::objects(&lake).await.unwrap()[0].path.clone();
    std::fs::remove_file(dir.path().join("lake").join(first)).unwrap();
    let broken = access::verify(&lake).await.unwrap().broken.expect("found");
    assert_eq!(broken.seq, 6, "{broken}");
}

#[tokio::test]
async fn what_is_cut_to_four_kib_on_a_character_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_in(dir.path());
    let long = "ø".repeat(3000); // 6000 bytes
    AccessLog::new(&lake).record(read("a", long)).await.unwrap();
    let line = &access::lines(&lake).await.unwrap()[0];
    assert_eq!(line.read.what.len(), 4096);
    assert!(line.read.what.chars().all(|c| c == 'ø'));
}
