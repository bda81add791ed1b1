//! `lms`: the one binary of LMS Monitor. Each subcommand is a thin layer over a library crate.

mod audit;
mod check;
mod config;
mod demo;
mod etl;
mod generate;
mod lake;
mod query;
mod serve;
mod setup;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use setup::{EXIT_FAILURE, EXIT_USAGE};

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
    Demo(demo::DemoArgs),
    /// Write deterministic demo extracts for the four regions, in each region's dialect.
    Generate(generate::GenerateArgs),
    /// Pull, check and load deliveries.
    #[command(subcommand)]
    Etl(etl::EtlCommand),
    /// Check one delivery against its contract; exit 1 if any row would be rejected.
    Check(check::CheckArgs),
    /// Read-only SQL over the published tables.
    Query {
        sql: String,
        #[arg(long, value_enum, default_value = "table")]
        format: query::QueryFormat,
        /// Read the lake as it was at this version (one of the snapshots retention keeps).
        #[arg(long)]
        version: Option<u64>,
    },
    /// The HTTP server, with the ETL schedule running inside it.
    Serve {
        #[arg(long)]
        no_schedule: bool,
    },
    /// Sources, last runs, freshness, lake version.
    Status,
    /// Audits on the warehouse host: the disclosure check of a publication, the access log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The lake's retention on the warehouse host.
    #[command(subcommand)]
    Lake(lake::LakeCommand),
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
        Command::Generate(args) => generate::run(&args),
        Command::Check(args) => return check::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Etl(command) => etl::command(&config, command),
        Command::Query { sql, format, version } => query::run(&config, &sql, format, version),
        Command::Serve { no_schedule } => serve::serve(&config, !no_schedule),
        Command::Status => status::run(&config),
        Command::Audit(command) => audit::run(&config, &command),
        Command::Lake(command) => lake::run(&config, &command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
