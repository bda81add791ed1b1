//! `lms-ballista`: a Ballista scheduler and executor, and the published-table build run on them.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lms_ballista::ExecutorOptions;
use lms_lake::Lake;
use lms_queries::publish::{BuildOptions, BuildSession};

#[derive(Parser)]
#[command(
    name = "lms-ballista",
    version,
    about = "The LMS Monitor published-table build on Apache DataFusion Ballista"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scheduler.
    Scheduler {
        #[arg(long, env = "LMS_BALLISTA_BIND", default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
    },
    /// Run an executor serving a scheduler.
    Executor {
        /// The scheduler's host:port.
        #[arg(long, env = "LMS_BALLISTA_SCHEDULER_ADDR", default_value = "127.0.0.1:50050")]
        scheduler: String,
        #[arg(long, env = "LMS_BALLISTA_EXECUTOR_HOST", default_value = "127.0.0.1")]
        bind_host: String,
        /// Flight port: shuffle data and results.
        #[arg(long, env = "LMS_BALLISTA_EXECUTOR_PORT", default_value_t = 50060)]
        port: u16,
        /// gRPC port: tasks from the scheduler.
        #[arg(long, env = "LMS_BALLISTA_EXECUTOR_GRPC_PORT", default_value_t = 50061)]
        grpc_port: u16,
        /// Where shuffle files are kept (default: a temporary directory).
        #[arg(long, env = "LMS_BALLISTA_WORK_DIR")]
        work_dir: Option<String>,
        /// Tasks run at once (default: the cores).
        #[arg(long, env = "LMS_BALLISTA_CONCURRENT_TASKS")]
        concurrent_tasks: Option<usize>,
    },
    /// Build the published tables of the lake's current version on the cluster, and print what
    /// was built (digest, cells, suppression) as JSON. Commits nothing.
    Build {
        #[command(flatten)]
        build: BuildArgs,
    },
    /// Build the published tables on the cluster and commit them as a new lake version, as
    /// `lms etl publish` does locally.
    Publish {
        #[command(flatten)]
        build: BuildArgs,
        /// Rebuild every year, not only those whose data changed.
        #[arg(long)]
        full: bool,
    },
}

#[derive(clap::Args)]
struct BuildArgs {
    /// The scheduler, as df://host:port.
    #[arg(long, env = "LMS_BALLISTA_SCHEDULER", default_value = "df://127.0.0.1:50050")]
    scheduler: String,
    /// The lake (file://… or s3://…). Executors read its files by the same URL.
    #[arg(long, env = "LMS_LAKE_URL")]
    lake: String,
    /// The disclosure-control threshold (`[suppression] min_count` of lms.toml).
    #[arg(long, env = "LMS_SUPPRESSION_MIN_COUNT", default_value_t = lms_queries::suppress::MIN_COUNT)]
    min_count: i64,
    /// Partitions per stage (default: the cores).
    #[arg(long)]
    partitions: Option<usize>,
}

/// The stack of the runtime's threads.
const PLAN_STACK: usize = 64 << 20;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("LMS_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Plans are (de)serialised recursively, and the indicators' plans are deep: the default 2 MiB
    // stack of a runtime thread overflowed in the scheduler (an unoptimised build).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(PLAN_STACK)
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Scheduler { bind } => Ok(lms_ballista::scheduler(bind).await?),
        Command::Executor { scheduler, bind_host, port, grpc_port, work_dir, concurrent_tasks } => {
            let (host, scheduler_port) =
                scheduler.rsplit_once(':').with_context(|| format!("--scheduler {scheduler}: expected host:port"))?;
            let scheduler_port = scheduler_port.parse().with_context(|| format!("--scheduler {scheduler}: port"))?;
            let options = ExecutorOptions {
                scheduler: (host.to_string(), scheduler_port),
                bind_host,
                port,
                grpc_port,
                work_dir,
                concurrent_tasks,
            };
            Ok(lms_ballista::executor(options).await?)
        }
        Command::Build { build: args } => {
            let lake = Lake::open(&args.lake)?;
            let snapshot = lake.snapshot().await?;
            let session = lms_ballista::session(&args.scheduler, args.partitions).await?;
            let started = std::time::Instant::now();
            let options = BuildOptions {
                min_count: args.min_count,
                memory_limit: None,
                session: Some(BuildSession(session)),
                ..BuildOptions::default()
            };
            let built = lms_queries::publish::build(&lake, &snapshot, &options).await?;
            let summary = serde_json::json!({
                "version": snapshot.version,
                "digest": built.digest,
                "cells": built.cells.len(),
                "suppressed_primary": built.suppression.primary,
                "suppressed_secondary": built.suppression.secondary,
                "variation_rows": built.variation.iter().map(|b| b.num_rows()).sum::<usize>(),
                "data_quality_rows": built.data_quality.iter().map(|b| b.num_rows()).sum::<usize>(),
                "seconds": started.elapsed().as_secs_f64(),
            });
            println!("{summary}");
            Ok(())
        }
        Command::Publish { build: args, full } => {
            let lake = Lake::open(&args.lake)?;
            let session = lms_ballista::session(&args.scheduler, args.partitions).await?;
            let version = lms_ballista::publish(&lake, session, args.min_count, full).await?;
            println!("{}", serde_json::json!({ "version": version }));
            Ok(())
        }
    }
}
