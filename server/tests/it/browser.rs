//! The overview page in headless Chromium: what a person sees, and a screenshot kept as an artefact
//! (`target/screenshots/overview.png`).

use crate::{have, options, start};

fn chromium(args: &[&str]) -> std::process::Output {
    std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_page_in_chromium() {
    if !have("chromium", "the headless Chromium test of the overview page") {
        return;
    }
    // The page is for dashboards: without tokens the server is open on loopback.
    let mut o = options();
    o.tokens = lms_server::Tokens::default();
    let (addr, _stop) = start(o).await;
    let url = format!("http://{addr}/?indicator=education_rate_by_size_class");
    let profile = tempfile::tempdir().unwrap();
    let user_data = format!("--user-data-dir={}", profile.path().display());
    let dom = tokio::task::spawn_blocking({
        let (url, user_data) = (url.clone(), user_data.clone());
        move || chromium(&[&user_data, "--dump-dom", &url])
    })
    .await
    .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(dom.contains("A0099-kontakter per 1 000 innbyggere etter kommunestørrelse"), "{dom}");
    // The bars of the four regions and the national line, the trend, the table.
    for rhf in ["HSO", "HV", "HMN", "HN"] {
        assert!(dom.contains(&format!(">{rhf}</text>")), "{rhf} bar");
    }
    assert!(dom.contains("class=\"national\""));
    // The breakdown: the four size classes, nationally.
    assert!(dom.contains("Norway by size_class"));
    for class in 1..=4 {
        assert!(dom.contains(&format!(">{class}</text>")), "size class {class}");
    }
    assert!(dom.contains("<polyline"));
    assert_eq!(dom.matches("<tr").count(), 1 + 5, "a header row and the nation with its four regions");
    // Each region against the nation (its Fay–Feuer interval around the national rate or not).
    assert!(dom.contains("<th>vs. Norway</th>"));
    let compared =
        ["higher", "similar", "lower"].iter().map(|c| dom.matches(&format!("<td>{c}</td>")).count()).sum::<usize>();
    assert_eq!(compared, 4, "the four regions compared with the nation");
    // Coloured by the configured target (main.rs: good from 0.25, acceptable from 0.23): the four
    // regions and the four size classes, and the table says it for the nation and the regions.
    assert_eq!(dom.matches(r#"<rect class="target-"#).count(), 4 + 4, "every bar coloured by the target");
    let standings =
        ["good", "acceptable", "below"].iter().map(|t| dom.matches(&format!("<td>{t}</td>")).count()).sum::<usize>();
    assert_eq!(standings, 5);
    // Why a cell is empty: the legend, every reason.
    assert!(dom.contains("Why a cell is empty"));
    for reason in ["disclosure", "coverage"] {
        assert!(dom.contains(&format!("<dt>prikket: {reason}</dt>")), "legend of {reason}");
    }

    // A page with hidden cells says why each is hidden, in the bars and in the table.
    let hidden = tokio::task::spawn_blocking({
        let (url, user_data) = (format!("http://{addr}/?indicator=a0099_share"), user_data.clone());
        move || chromium(&[&user_data, "--dump-dom", &url])
    })
    .await
    .unwrap();
    let hidden = String::from_utf8_lossy(&hidden.stdout).into_owned();
    let said =
        |prefix: &str| ["disclosure"].iter().map(|r| hidden.matches(&format!("{prefix}{r}")).count()).sum::<usize>();
    // In the table, linked to `GET /api/v1/availability`, which says why in words.
    assert!(said("\">prikket: ") > 0, "a hidden cell with its reason in the table");
    assert!(hidden.contains(r#"<td><a href="/api/v1/availability?indicator=a0099_share&amp;year="#), "linked");
    // The funnel plot of the share: units as points, the national line, two pairs of limit curves.
    assert!(hidden.contains("Funnel plot,"), "a funnel section");
    assert!(hidden.contains(r#"<svg class="funnel""#));
    assert!(hidden.matches(r#"<circle class="unit "#).count() >= 3, "the units as points");
    assert_eq!(hidden.matches(r#"<polyline class="limit95""#).count(), 2);
    assert_eq!(hidden.matches(r#"<polyline class="limit998""#).count(), 2);
    assert_eq!(said("\">prikket: "), said("prikket (suppressed: "), "each hidden bar says why too");

    let shots = crate::manifest_dir().join("../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join("overview.png");
    let _ = std::fs::remove_file(&png);
    let out = tokio::task::spawn_blocking({
        let (arg, user_data) = (format!("--screenshot={}", png.display()), user_data.clone());
        move || chromium(&[&user_data, &arg, "--window-size=1100,1400", &url])
    })
    .await
    .unwrap();
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 10_000, "a page with content, not a blank");
    // And the share's page, with its funnel plot and hidden cells.
    let png = shots.join("funnel.png");
    let _ = std::fs::remove_file(&png);
    let out = tokio::task::spawn_blocking({
        let arg = format!("--screenshot={}", png.display());
        let url = format!("http://{addr}/?indicator=a0099_share");
        move || chromium(&[&user_data, &arg, "--window-size=1100,2000", &url])
    })
    .await
    .unwrap();
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(bytes.len() > 10_000, "a page with content, not a blank");
}
