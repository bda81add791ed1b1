//! `lms`: the one binary of LMS Monitor. Each subcommand is a thin layer over a library crate.

mod audit;
mod check;
mod config;
mod etl;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// LMS Monitor: national warehouse and metrics server for patient and relative education (LMS).
#[derive(Debug, Parser)]
#[command(name = "lms", version, about)]
struct Cli {
    /// The lake: file://… or s3://bucket/prefix (default file://./lms-data/lake, or the config's).
    #[arg(long, global = true, env = "LMS_LAKE_URL")]
    lake: Option<String>,
    /// Configuration file (lms.toml); every setting has a default.
    #[arg(long, global = true, env = "LMS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate demo extracts, load them, build the indicators and serve them.
    Demo {
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
    },
    /// Write deterministic demo extracts for the four regions, in each region's dialect.
    Generate(GenerateArgs),
    /// Pull, check and load deliveries.
    #[command(subcommand)]
    Etl(EtlCommand),
    /// Check one delivery against its contract; exit 1 if any row would be rejected.
    Check(check::CheckArgs),
    /// Read-only SQL over the published tables.
    Query {
        sql: String,
        #[arg(long, value_enum, default_value = "table")]
        format: QueryFormat,
    },
    /// The HTTP server, with the ETL schedule running inside it.
    Serve {
        #[arg(long)]
        no_schedule: bool,
    },
    /// Sources, last runs, freshness, lake version.
    Status,
    /// Audits on the warehouse host: the disclosure check of a publication.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// Output directory; files go to OUT/{HSO,HV,HMN,HN}/ with manifest.json beside them.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Years, as FIRST-LAST or one year.
    #[arg(long, default_value = "2020-2025")]
    years: String,
    /// Volume multiplier: 1 ≈ a realistic national volume (about a million coded contacts a year).
    #[arg(long, default_value_t = 0.1)]
    scale: f64,
}

#[derive(Debug, Subcommand)]
enum EtlCommand {
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

#[derive(Clone, Copy, Debug, ValueEnum)]
enum QueryFormat {
    Table,
    Csv,
    Json,
}

/// Exit codes of interfaces.md.
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

fn parse_years(s: &str) -> anyhow::Result<(i32, i32)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let year =
        |y: &str| y.trim().parse::<i32>().map_err(|_| anyhow::anyhow!("--years {s}: expected YYYY or YYYY-YYYY"));
    Ok((year(a)?, year(b)?))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("LMS_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in log files and journals.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let config = match config::Config::load(cli.config.as_deref(), |k| std::env::var(k).ok()) {
        Ok(mut c) => {
            if let Some(lake) = &cli.lake {
                c.lake.url = lake.clone();
            }
            c
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    tracing::debug!(lake = %config.lake.url, "configuration loaded");
    let result = match cli.command {
        Command::Generate(args) => generate(&args),
        Command::Check(args) => return check::run(&args),
        Command::Demo { dir, listen, postgres_listen, scale } => check::demo(&dir, &listen, &postgres_listen, scale),
        Command::Etl(EtlCommand::Run { incoming, source }) => etl::run(&config, incoming.as_deref(), source.as_deref()),
        Command::Etl(EtlCommand::Backfill { source, from, to }) => etl::backfill(&config, &source, &from, &to),
        Command::Etl(EtlCommand::Publish { full }) => etl::publish(&config, full),
        Command::Query { sql, format } => query(&config, &sql, format),
        Command::Serve { no_schedule } => serve::serve(&config, !no_schedule),
        Command::Status => etl::status(&config),
        Command::Audit(command) => audit::run(&config, &command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let (first_year, last_year) = match parse_years(&args.years) {
        Ok(y) => y,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let options =
        lms_generate::Options { seed: args.seed, first_year, last_year, scale: args.scale, codes_of_2024: false };
    let reference = lms_schemas::Reference::embedded()?;
    let manifest = match lms_generate::generate(&args.out, &options, &reference) {
        Err(lms_generate::GenerateError::Options(e)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        other => other?,
    };
    let rows: u64 = manifest.files.iter().map(|f| f.rows).sum();
    let planted: usize = manifest.files.iter().map(|f| f.planted.len()).sum();
    let rejected = manifest.files.iter().filter(|f| f.rejected.is_some()).count();
    println!(
        "wrote {} files ({rows} rows; {planted} planted row faults, {rejected} files planted to be rejected) to {}",
        manifest.files.len(),
        args.out.display()
    );
    println!("manifest: {}", args.out.join("manifest.json").display());
    Ok(ExitCode::SUCCESS)
}

fn query(config: &config::Config, sql: &str, format: QueryFormat) -> anyhow::Result<ExitCode> {
    use lms_queries::{Access, QueryError, Warehouse, format as fmt};
    let result = etl::runtime().block_on(async {
        // The CLI runs on the warehouse host: it sees the person-level tables too.
        let w = Warehouse::open(&config.lake.url, Access::Warehouse).await?;
        w.sql(sql).await
    });
    let batches = match result {
        Ok(b) => b,
        Err(e @ (QueryError::ReadOnly(_) | QueryError::Sql(_))) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(e) => return Err(e.into()),
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match format {
        QueryFormat::Table => writeln!(out, "{}", fmt::table(&batches))?,
        QueryFormat::Csv => out.write_all(&fmt::csv(&batches))?,
        QueryFormat::Json => {
            out.write_all(&fmt::json(&batches))?;
            writeln!(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
