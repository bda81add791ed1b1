//! `lms demo`: generate the demo extracts, check every delivery, load them, build the indicators,
//! and serve them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use lms_schemas::{Delivery, ExtractKind, Reference, Rhf, Rule};

use crate::setup::EXIT_USAGE;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working directory for the demo's extracts, lake and key.
    #[arg(long, default_value = "lms-data")]
    dir: PathBuf,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Address to serve the PostgreSQL wire protocol on (loopback, no password).
    #[arg(long, default_value = "127.0.0.1:5433")]
    postgres_listen: String,
    /// Demo volume (1 ≈ national volume).
    #[arg(long, default_value_t = 0.1)]
    scale: f64,
}

/// Checks every delivery under `incoming/{HSO,HV,HMN,HN}`: per region, rows read, clean and
/// rejected, and files rejected by rule.
pub fn check_incoming(incoming: &Path, reference: &Reference) -> anyhow::Result<BTreeMap<Rhf, RegionTally>> {
    let mut tallies = BTreeMap::new();
    for rhf in Rhf::ALL {
        let tally: &mut RegionTally = tallies.entry(rhf).or_default();
        let dir = incoming.join(rhf.code());
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let kind = Delivery::parse(&name).map(|d| d.extract).unwrap_or(ExtractKind::Activity);
            match crate::check::check_path(&path, kind, rhf, reference, |_| {}) {
                Ok((_, s)) => {
                    tally.files += 1;
                    tally.rows_read += s.rows_read;
                    tally.rows_clean += s.rows_loaded;
                    tally.rows_rejected += s.rows_rejected;
                    for (rule, n) in s.rows_rejected_by_rule {
                        *tally.rejected_by_rule.entry(rule).or_default() += n;
                    }
                }
                Err(r) => {
                    tally.files += 1;
                    *tally.files_rejected.entry(r.rule).or_default() += 1;
                }
            }
        }
    }
    Ok(tallies)
}

#[derive(Debug, Default)]
pub struct RegionTally {
    pub files: u64,
    pub rows_read: u64,
    pub rows_clean: u64,
    pub rows_rejected: u64,
    pub rejected_by_rule: BTreeMap<Rule, u64>,
    pub files_rejected: BTreeMap<Rule, u64>,
}

/// `lms demo`: generate the demo extracts, check every delivery, load them into the lake at
/// `dir/lake` with a key kept outside it (`dir/secrets/pseudonym.key`), building the indicators in
/// the same commit, and serve them on `listen` until interrupted.
pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let DemoArgs { dir, listen, postgres_listen, scale } = args;
    let (dir, scale) = (dir.as_path(), *scale);
    // The demo's server has no tokens: it listens on loopback only.
    let addr = match crate::serve::listen_address(listen, &lms_server::Tokens::default()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lms demo: --listen: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let postgres = match crate::serve::listen_address(postgres_listen, &lms_server::Tokens::default()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lms demo: --postgres-listen: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let incoming = dir.join("incoming");
    let options = lms_generate::Options { scale, ..lms_generate::Options::default() };
    let reference = Reference::embedded()?;
    let started = std::time::Instant::now();
    let manifest = lms_generate::generate(&incoming, &options, &reference)?;
    println!(
        "generated {} deliveries for 2020–2025 in {:.1} s: {}",
        manifest.files.len(),
        started.elapsed().as_secs_f64(),
        incoming.display()
    );
    let started = std::time::Instant::now();
    let tallies = check_incoming(&incoming, &reference)?;
    println!("checked every delivery against its contract in {:.1} s:", started.elapsed().as_secs_f64());
    println!("  {:<4} {:>6} {:>10} {:>10} {:>9}  files rejected", "rhf", "files", "rows read", "clean", "rejected");
    for (rhf, t) in &tallies {
        let files: Vec<String> = t.files_rejected.iter().map(|(r, n)| format!("{r} {n}")).collect();
        println!(
            "  {:<4} {:>6} {:>10} {:>10} {:>9}  {}",
            rhf.code(),
            t.files,
            t.rows_read,
            t.rows_clean,
            t.rows_rejected,
            files.join(", ")
        );
    }
    let key = lms_schemas::identity::PseudonymKey::load_or_create(&dir.join("secrets").join("pseudonym.key"))?;
    let mut config = crate::config::Config::default();
    std::fs::create_dir_all(dir.join("lake"))?;
    config.lake.url = format!("file://{}", dir.join("lake").canonicalize()?.display());
    let etl = crate::setup::etl(&config, key)?;
    let sources = crate::setup::incoming_sources(&incoming)?;
    let started = std::time::Instant::now();
    let report = crate::setup::runtime().block_on(etl.run(&sources))?;
    println!("\nloaded into the lake {} in {:.1} s:", config.lake.url, started.elapsed().as_secs_f64());
    crate::etl::print_report(&report);
    // What the published tables show: the equity gap by municipality size, latest year.
    let sql = "SELECT year, breakdown, round(value, 3) AS rate_per_1000, round(ci_low, 3) AS ci_low, \
               round(ci_high, 3) AS ci_high, suppressed FROM indicator_values \
               WHERE indicator = 'education_rate_by_size_class' AND level = 'national' \
               AND year = (SELECT max(year) FROM indicator_values) ORDER BY breakdown";
    let batches = crate::setup::runtime().block_on(async {
        let lake = lms_lake::Lake::open(&config.lake.url).map_err(|e| lms_queries::QueryError::Lake(e.to_string()))?;
        let w = lms_queries::Warehouse::open(&lake, lms_queries::Access::Published).await?;
        w.sql(sql).await
    })?;
    println!("\nA0099 contacts per 1 000 inhabitants by municipality size class (age- and sex-standardised):");
    println!("{}", lms_queries::format::table(&batches));
    println!(
        "\nEvery indicator is in the published tables: `lms query --lake {} \"SELECT * FROM indicator_values \
         WHERE level = 'national'\"`.",
        config.lake.url
    );
    println!(
        "The same tables over the PostgreSQL protocol (psql, Grafana, R, Python, ODBC): \
         `psql -h {} -p {} -U lms lms -c '\\dt'`.\n",
        postgres.ip(),
        postgres.port()
    );
    crate::setup::runtime().block_on(crate::serve::run(
        lms_server::ServerOptions::new(&config.lake.url),
        addr,
        None,
        Some(crate::serve::Postgres { addr: postgres, tls: None }),
        None,
    ))?;
    Ok(ExitCode::SUCCESS)
}
