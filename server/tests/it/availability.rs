//! `GET /api/v1/availability`: each status against the cells the value endpoint serves.

use serde_json::Value;

use crate::{DASHBOARD, get, options, start};

async fn json(addr: std::net::SocketAddr, path: &str) -> (u16, Value) {
    let (status, _, body) = get(addr, path, Some(DASHBOARD)).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_says_why_a_cell_is_or_is_not_there() {
    let (addr, _stop) = start(options()).await;
    let ask = |q: String| async move { json(addr, &format!("/api/v1/availability?{q}")).await };

    // Shown: the national single-year total, with the value the value endpoint serves.
    let (_, cells) = json(addr, "/api/v1/indicators/a0099_share?period=all").await;
    let cells = cells.as_array().unwrap().clone();
    let total = |r: &&Value| r["breakdown"] == "" && r["period"].as_str().is_some_and(|p| p.len() == 4);
    let national = cells.iter().filter(total).find(|r| r["level"] == "national" && r["year"] == 2024).unwrap();
    let (status, a) = ask("indicator=a0099_share&year=2024".into()).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!((&a["status"], &a["value"]), (&Value::from("shown"), &national["value"]));
    assert_eq!(a["text_nb"], "Verdien for landet i 2024 vises.");
    assert_eq!(a["text_en"], "The value for the nation in 2024 is shown.");

    // Hidden, for each reason the value endpoint gives.
    let mut seen = std::collections::BTreeSet::new();
    for c in cells.iter().filter(total).filter(|r| r["suppressed"] == true && r["level"] != "national") {
        let unit = if c["level"] == "hf" { &c["hf"] } else { &c["rhf"] };
        let q = format!(
            "indicator=a0099_share&year={}&level={}&unit={}",
            c["year"],
            c["level"].as_str().unwrap(),
            unit.as_str().unwrap()
        );
        let (_, a) = ask(q).await;
        let expected = match c["suppression_reason"].as_str().unwrap() {
            "coverage" => "below_coverage",
            _ => "hidden",
        };
        assert_eq!((&a["status"], &a["reason"]), (&Value::from(expected), &c["suppression_reason"]), "{c}");
        assert!(a["value"].is_null());
        seen.insert(expected);
    }
    assert!(seen.contains("hidden"), "the fixture has cells hidden by disclosure control");

    // No cell for a year nothing was delivered for; a unit no cell names; a level not computed.
    let (_, a) = ask("indicator=a0099_share&year=2019".into()).await;
    assert_eq!(a["status"], "no_delivery", "{a}");
    let (_, a) = ask("indicator=a0099_share&year=2024&level=hf&unit=NOPE".into()).await;
    assert_eq!(a["status"], "no_such_unit", "{a}");
    let (_, catalogue) = json(addr, "/api/v1/indicators").await;
    let national_only = catalogue
        .as_array()
        .unwrap()
        .iter()
        .find(|i| !i["levels"].as_array().unwrap().iter().any(|l| l == "hf"))
        .map(|i| i["id"].as_str().unwrap().to_string());
    let id = national_only.expect("an indicator not computed per trust");
    let (_, a) = ask(format!("indicator={id}&year=2024&level=hf&unit=LDS")).await;
    assert_eq!(a["status"], "not_defined", "{a}");

    // Asked wrongly.
    assert_eq!(ask("indicator=a0099_share".into()).await.0, 400);
    assert_eq!(ask("indicator=a0099_share&year=2024&level=rhf".into()).await.0, 400);
    assert_eq!(ask("indicator=nope&year=2024".into()).await.0, 404);
    assert_eq!(ask("indicator=a0099_share&year=2024&colour=red".into()).await.0, 400);

    // The page links a hidden cell to it.
    let (_, _, page) = get(addr, "/?indicator=a0099_share", Some(DASHBOARD)).await;
    assert!(page.contains("/api/v1/availability?indicator=a0099_share&amp;year="), "a hidden cell links to why");
}
