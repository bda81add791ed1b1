//! `lms status`: sources, last runs, freshness, lake version.

use std::process::ExitCode;

use crate::config::Config;
use crate::setup::runtime;

pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    let lake = lms_lake::Lake::open(&config.lake.url)?;
    let (snapshot, runs) =
        runtime().block_on(async { Ok::<_, lms_etl::EtlError>((lake.snapshot().await?, lake.runs().await?)) })?;
    println!("lake {} at version {}", config.lake.url, snapshot.version);
    if let Some(t) = snapshot.committed_at {
        println!("  last commit {t}");
    }
    match (&snapshot.published, &snapshot.digest) {
        (Some(definitions), digest) => {
            println!(
                "  published tables {}",
                digest.as_deref().unwrap_or("(no digest recorded: run `lms etl publish`)")
            );
            println!("  built from {definitions}");
            if let Some(version) = definitions.split(';').find_map(|d| d.strip_prefix("reference=")) {
                println!("  reference data version {version}");
            }
        }
        (None, _) => println!("  no published tables"),
    }
    let mut by_source: std::collections::BTreeMap<&str, &lms_etl::RunRecord> = Default::default();
    for r in &runs {
        by_source.insert(&r.source, r);
    }
    println!("\n  {:<8} {:<12} {:<26} {:>10} {:>9}  freshness", "source", "last run", "at", "loaded", "rejected");
    let now = chrono::Utc::now();
    for (source, r) in &by_source {
        let newest = snapshot
            .deliveries
            .iter()
            .filter(|d| d.source == *source && d.status == lms_lake::DeliveryStatus::Loaded)
            .map(|d| d.processed_at)
            .max();
        let fresh =
            newest.map(|t| format!("{:.1} h", (now - t).num_minutes() as f64 / 60.0)).unwrap_or_else(|| "–".into());
        println!(
            "  {:<8} {:<12} {:<26} {:>10} {:>9}  {fresh}",
            source,
            r.status,
            r.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            r.rows_loaded,
            r.rows_rejected
        );
        if let Some(e) = &r.error {
            println!("           error: {e}");
        }
    }
    let mut latest: std::collections::BTreeMap<(String, String), String> = Default::default();
    for key in snapshot.periods.keys() {
        let e = latest.entry((key.rhf.clone(), key.extract.clone())).or_default();
        if key.period > *e {
            *e = key.period.clone();
        }
    }
    println!("\n  newest period loaded:");
    for ((rhf, extract), period) in latest {
        println!("  {rhf:<4} {extract:<11} {period}");
    }
    Ok(ExitCode::SUCCESS)
}
