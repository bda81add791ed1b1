//! `lms etl run`, `lms etl publish`, `lms etl backfill` and `lms etl rekey`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use lms_etl::Backfill;
use lms_lake::{Changes, Lake, Transaction, new_run_id};
use lms_schemas::Period;

use crate::config::Config;
use crate::setup::{config_sources, etl, incoming_sources, key, publisher, runtime, usage};

#[derive(Debug, Subcommand)]
pub enum EtlCommand {
    /// One pass over the sources now.
    Run {
        /// Take DIR/HSO, DIR/HV, DIR/HMN and DIR/HN as the four regions' file sources.
        #[arg(long)]
        incoming: Option<PathBuf>,
        #[arg(long)]
        source: Option<String>,
    },
    /// Rebuild the published tables (indicators, variation, data quality) of the current lake
    /// version, as a new commit. A pass does this by itself when the definitions changed.
    Publish {
        /// Rebuild every year, not only those whose coding or activity files changed since the
        /// tables were last built (the result is the same table, to the bit).
        #[arg(long)]
        full: bool,
    },
    /// Make every pseudonym of the person-level tables again under a new key, in one commit (the
    /// current key is the configured one). FILE then holds the key chain the passes must use from
    /// now on: the current key's lines, then the new key.
    Rekey {
        /// A file holding the new key (64 hex characters; `openssl rand -hex 32`).
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
    },
    /// Reload a range of periods.
    Backfill {
        #[arg(long)]
        source: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
}

pub fn command(config: &Config, command: EtlCommand) -> anyhow::Result<ExitCode> {
    match command {
        EtlCommand::Run { incoming, source } => run(config, incoming.as_deref(), source.as_deref()),
        EtlCommand::Backfill { source, from, to } => backfill(config, &source, &from, &to),
        EtlCommand::Publish { full } => publish(config, full),
        EtlCommand::Rekey { new_key_file } => rekey(config, &new_key_file),
    }
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

fn run(config: &Config, incoming: Option<&Path>, only: Option<&str>) -> anyhow::Result<ExitCode> {
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

/// The published tables rebuilt as a commit of their own: a transaction on the lake with nothing
/// but them (no rows are loaded, so no key is needed).
fn publish(config: &Config, full: bool) -> anyhow::Result<ExitCode> {
    let lake = Lake::open(&config.lake.url)?;
    let started = std::time::Instant::now();
    let committed = runtime().block_on(async {
        let snapshot = lake.snapshot().await?;
        let transaction =
            Transaction::new(&lake, &new_run_id()).publisher(Some(Arc::new(publisher(config, full)))).republish(true);
        transaction.commit(snapshot, |_| Changes::default()).await
    })?;
    match committed.commit {
        Some(c) => {
            println!("published tables rebuilt in {:.2} s: lake version {}", started.elapsed().as_secs_f64(), c.version)
        }
        None => println!("the lake is empty: nothing to publish"),
    }
    Ok(ExitCode::SUCCESS)
}

fn backfill(config: &Config, source: &str, from: &str, to: &str) -> anyhow::Result<ExitCode> {
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

/// The rekey: the new key from `file`, the current from the configuration; `file` is replaced by the
/// chain once the commit is in (the chain is written beside it first, so a crash between the two
/// leaves it there).
fn rekey(config: &Config, file: &Path) -> anyhow::Result<ExitCode> {
    use lms_schemas::identity::PseudonymKey;
    let current = match key(config) {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    let new = match PseudonymKey::from_file(file) {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    if new.id() == current.id() {
        return usage("the new key is the current one");
    }
    let chain = current.then(&new);
    let pending = file.with_extension("chain.pending");
    write_secret(&pending, &chain.to_hex_lines())?;
    let lake = Lake::open(&config.lake.url)?;
    let started = std::time::Instant::now();
    let done = match runtime().block_on(lms_etl::rekey::rekey(&lake, &current, &new)) {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&pending);
            return Err(e.into());
        }
    };
    std::fs::rename(&pending, file)?;
    println!(
        "lake version {}: {} rows in {} files under the new key in {:.2} s; key id {}",
        done.version,
        done.rows,
        done.files,
        started.elapsed().as_secs_f64(),
        done.key_id
    );
    println!(
        "{} now holds the key chain (the current key, then the new one): point LMS_PSEUDONYM_KEY_FILE or [pseudonym] key_file at it; the passes refuse any other key",
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes a secret file readable by its owner only.
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, text.as_bytes())?;
    Ok(())
}
