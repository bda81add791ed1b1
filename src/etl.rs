//! `lms etl run`, `lms etl backfill`, `lms status` and the ETL step of `lms demo`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use lms_etl::{Backfill, Etl, EtlOptions, Source};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Period, Reference, Rhf};

use crate::config::Config;

/// The four regions' file sources under `dir` (`dir/HSO`, …), each taking all three extracts.
pub fn incoming_sources(dir: &Path) -> anyhow::Result<Vec<Source>> {
    let dir = dir.canonicalize().with_context(|| format!("--incoming {}", dir.display()))?;
    Rhf::ALL
        .iter()
        .map(|rhf| {
            let url = format!("file://{}", dir.join(rhf.code()).display());
            Ok(Source::new(&rhf.code().to_lowercase(), *rhf, None, &url)?)
        })
        .collect()
}

/// The sources of the configuration.
pub fn config_sources(config: &Config) -> anyhow::Result<Vec<Source>> {
    config
        .sources
        .iter()
        .map(|s| {
            let rhf: Rhf = s.rhf.parse().map_err(anyhow::Error::msg)?;
            let extract = s.extract.as_deref().map(str::parse).transpose().map_err(anyhow::Error::msg)?;
            Ok(Source::new(&s.name, rhf, extract, &s.url)?)
        })
        .collect()
}

/// The pseudonymisation key: `LMS_PSEUDONYM_KEY`, else the configured or `LMS_PSEUDONYM_KEY_FILE` file.
pub fn key(config: &Config) -> anyhow::Result<PseudonymKey> {
    if std::env::var_os("LMS_PSEUDONYM_KEY").is_some() {
        return Ok(PseudonymKey::from_env()?);
    }
    match &config.pseudonym.key_file {
        Some(path) => Ok(PseudonymKey::from_file(Path::new(path))?),
        None => Err(lms_schemas::identity::KeyError::Missing.into()),
    }
}

pub fn etl(config: &Config, key: PseudonymKey) -> anyhow::Result<Etl> {
    etl_with(config, key, false)
}

/// The ETL, its publisher rebuilding every year where `full`.
fn etl_with(config: &Config, key: PseudonymKey, full: bool) -> anyhow::Result<Etl> {
    Ok(Etl {
        lake: lms_etl::open_lake(&config.lake.url)?,
        reference: Arc::new(Reference::embedded()?),
        key,
        options: EtlOptions { progress: true, ..EtlOptions::default() },
        // Every commit carries the published indicator tables built from it.
        publisher: Some(Arc::new(lms_queries::IndicatorPublisher {
            memory_limit: config.publish.memory_limit(),
            full,
            targets: config.targets.clone(),
            ..lms_queries::IndicatorPublisher::new(&config.lake.url, i64::from(config.suppression.min_count))
        })),
    })
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

pub fn usage(e: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("error: {e}");
    Ok(ExitCode::from(crate::EXIT_USAGE))
}

/// Prints what a pass did, per source.
pub fn print_report(report: &lms_etl::RunReport) {
    match report.version {
        Some(v) => println!("run {}: committed lake version {v}", report.run_id),
        None => println!("run {}: nothing new ({} deliveries already loaded)", report.run_id, report.skipped),
    }
    println!(
        "  {:<8} {:>6} {:>9} {:>10} {:>10} {:>9}",
        "source", "files", "rejected", "rows read", "loaded", "rejected"
    );
    for r in &report.runs {
        println!(
            "  {:<8} {:>6} {:>9} {:>10} {:>10} {:>9}",
            r.source, r.files, r.files_rejected, r.rows_read, r.rows_loaded, r.rows_rejected
        );
    }
}

pub fn run(config: &Config, incoming: Option<&Path>, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut sources = match incoming {
        Some(dir) => match incoming_sources(dir) {
            Ok(s) => s,
            Err(e) => return usage(format!("{e:#}")),
        },
        None => config_sources(config)?,
    };
    if let Some(name) = only {
        sources.retain(|s| s.name == name);
        if sources.is_empty() {
            return usage(format!("no source named `{name}`"));
        }
    }
    if sources.is_empty() {
        return usage("no sources: give --incoming DIR or [[source]] entries in the configuration");
    }
    let key = match key(config) {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    let etl = etl(config, key)?;
    let report = runtime().block_on(etl.run(&sources))?;
    print_report(&report);
    Ok(ExitCode::SUCCESS)
}

pub fn publish(config: &Config, full: bool) -> anyhow::Result<ExitCode> {
    // No rows are loaded, so nothing is pseudonymised: a throwaway key serves.
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let etl = etl_with(config, PseudonymKey::from_hex(&hex::encode(bytes))?, full)?;
    let started = std::time::Instant::now();
    let report = runtime().block_on(etl.republish())?;
    match report.version {
        Some(v) => println!("published tables rebuilt in {:.2} s: lake version {v}", started.elapsed().as_secs_f64()),
        None => println!("the lake is empty: nothing to publish"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn backfill(config: &Config, source: &str, from: &str, to: &str) -> anyhow::Result<ExitCode> {
    let (Some(from), Some(to)) = (Period::parse(from), Period::parse(to)) else {
        return usage(format!("--from {from} --to {to}: expected YYYY-MM"));
    };
    let Some(source) = config_sources(config)?.into_iter().find(|s| s.name == source) else {
        return usage(format!("no source named `{source}` in the configuration"));
    };
    let key = match key(config) {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    let etl = etl(config, key)?;
    let report = runtime().block_on(etl.backfill(&source, Backfill { from, to }))?;
    print_report(&report);
    Ok(ExitCode::SUCCESS)
}

pub fn status(config: &Config) -> anyhow::Result<ExitCode> {
    let lake = lms_etl::open_lake(&config.lake.url)?;
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
            .filter(|d| d.source == *source && d.status == "loaded")
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
