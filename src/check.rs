//! `lms check` (one delivery, for data producers) and `lms demo` (generate, check, load, build the
//! indicators, serve).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use lms_schemas::{Delivery, ExtractKind, FileRejection, FileSummary, Reference, Rhf, Rule, check_delivery};

use crate::EXIT_USAGE;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// activity, coding or evaluation.
    #[arg(long)]
    extract: String,
    /// The delivering region: HSO, HV, HMN or HN (its dialect is used).
    #[arg(long)]
    rhf: String,
    /// text: one line per broken rule and a summary; json: one JSON object per line, then the summary.
    #[arg(long, value_enum, default_value = "text")]
    format: CheckFormat,
    file: PathBuf,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CheckFormat {
    Text,
    Json,
}

/// Checks one file, streaming it (twice); calls `report` for every row with violations.
pub fn check_path(
    path: &Path,
    kind: ExtractKind,
    rhf: Rhf,
    reference: &Reference,
    mut report: impl FnMut(&lms_schemas::Violation),
) -> Result<(Delivery, FileSummary), FileRejection> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    check_delivery(&name, kind, rhf, reference, || File::open(path), |row| row.violations.iter().for_each(&mut report))
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let usage = |e: String| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_USAGE)
    };
    let kind: ExtractKind = match args.extract.parse() {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    let rhf: Rhf = match args.rhf.parse() {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    if !args.file.is_file() {
        return usage(format!("{}: no such file", args.file.display()));
    }
    let reference = match Reference::embedded() {
        Ok(r) => r,
        Err(e) => return usage(e.to_string()),
    };
    let file = args.file.display().to_string();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let json = matches!(args.format, CheckFormat::Json);
    let result = check_path(&args.file, kind, rhf, &reference, |v| {
        let _ = if json {
            writeln!(out, "{}", serde_json::to_string(v).expect("violation serialises"))
        } else {
            writeln!(out, "{file}:{}", v.to_string().trim_start_matches("line ").replacen(", column ", ": ", 1))
        };
    });
    let code = match &result {
        Ok((_, s)) if s.rows_rejected == 0 => ExitCode::SUCCESS,
        _ => ExitCode::from(crate::EXIT_FAILURE),
    };
    let _ = match result {
        Ok((_, summary)) if json => writeln!(out, "{}", serde_json::json!({ "file": file, "summary": summary })),
        Err(rejection) if json => writeln!(
            out,
            "{}",
            serde_json::json!({ "file": file, "rejected": { "rule": rejection.rule, "line": rejection.line, "message": rejection.message } })
        ),
        Ok((_, summary)) => write_summary(&mut out, &file, &summary),
        Err(rejection) => writeln!(out, "{file}: file rejected: {rejection}"),
    };
    let _ = out.flush();
    code
}

fn write_summary(out: &mut impl Write, file: &str, s: &FileSummary) -> std::io::Result<()> {
    writeln!(out, "{file}: {} rows read, {} clean, {} rejected", s.rows_read, s.rows_loaded, s.rows_rejected)?;
    if !s.violations_by_rule.is_empty() {
        writeln!(out, "  {:<24} {:>12} {:>14}", "rule", "violations", "rows rejected")?;
        for (rule, n) in &s.violations_by_rule {
            let rows = s.rows_rejected_by_rule.get(rule).copied().unwrap_or(0);
            writeln!(out, "  {:<24} {n:>12} {rows:>14}", rule.as_str())?;
        }
    }
    if !s.unknown_columns.is_empty() {
        writeln!(out, "  unknown columns (not loaded): {}", s.unknown_columns.join(", "))?;
    }
    Ok(())
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
            match check_path(&path, kind, rhf, reference, |_| {}) {
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
pub fn demo(dir: &Path, listen: &str, postgres_listen: &str, scale: f64) -> anyhow::Result<ExitCode> {
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
    let etl = crate::etl::etl(&config, key)?;
    let sources = crate::etl::incoming_sources(&incoming)?;
    let started = std::time::Instant::now();
    let report = crate::etl::runtime().block_on(etl.run(&sources))?;
    println!("\nloaded into the lake {} in {:.1} s:", config.lake.url, started.elapsed().as_secs_f64());
    crate::etl::print_report(&report);
    // What the published tables show: the equity gap by municipality size, latest year.
    let sql = "SELECT year, breakdown, round(value, 3) AS rate_per_1000, round(ci_low, 3) AS ci_low, \
               round(ci_high, 3) AS ci_high, suppressed FROM indicator_values \
               WHERE indicator = 'education_rate_by_size_class' AND level = 'national' \
               AND year = (SELECT max(year) FROM indicator_values) ORDER BY breakdown";
    let batches = crate::etl::runtime().block_on(async {
        let w = lms_queries::Warehouse::open(&config.lake.url, lms_queries::Access::Published).await?;
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
    crate::etl::runtime().block_on(crate::serve::run(
        lms_server::ServerOptions::new(&config.lake.url),
        addr,
        None,
        Some(crate::serve::Postgres { addr: postgres, tls: None }),
        None,
    ))?;
    Ok(ExitCode::SUCCESS)
}
