//! The published-table build on Apache DataFusion Ballista: a scheduler, executors, and a client
//! session the build runs its plans in ([`lms_queries::publish::BuildOptions::session`]).
//!
//! The build plans each query here, in the client, and Ballista runs the plan on the executors.
//! What a plan reads must therefore be files the executors can open by path or URL:
//! - the lake's tables are its data files, as listing tables of explicit file lists (never a
//!   directory listing), as in a local build;
//! - the reference data and the build's intermediate tables (materialised views, cells, strata)
//!   are Parquet files the build writes into a temporary directory of the client's host
//!   (`lms_queries`' `Keep::Files`), so executors must share that filesystem: true of the
//!   processes of one machine, which is what this crate runs and tests. Spreading executors over
//!   hosts needs that directory on shared storage (an object store), which is not built.
//!
//! Publishing commits through the lake's [`lms_lake::Transaction`], so this crate needs neither the
//! ETL nor a pseudonymisation key.
//!
//! Invariant: a build on Ballista publishes the same tables to the bit as a local build of the
//! same lake version (`tests/it`), because both run the same SQL over the same rows and the
//! published tables are sorted and independent of partitioning.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use lms_lake::{Changes, Lake, Transaction, new_run_id};
use lms_queries::publish::{BuildOptions, BuildSession};

#[derive(Debug, thiserror::Error)]
pub enum BallistaError {
    #[error("scheduler on {addr}: {message}")]
    Scheduler { addr: String, message: String },
    #[error("executor for scheduler {scheduler}: {message}")]
    Executor { scheduler: String, message: String },
    #[error("session with scheduler {url}: {message}")]
    Session { url: String, message: String },
}

/// Runs a scheduler listening on `addr` until the process ends.
pub async fn scheduler(addr: SocketAddr) -> Result<(), BallistaError> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    let fail = |e: &dyn std::fmt::Display| BallistaError::Scheduler { addr: addr.to_string(), message: e.to_string() };
    let config = SchedulerConfig {
        bind_host: addr.ip().to_string(),
        bind_port: addr.port(),
        external_host: addr.ip().to_string(),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(|e| fail(&e))?;
    ballista_scheduler::scheduler_process::start_server(cluster, addr, Arc::new(config)).await.map_err(|e| fail(&e))
}

/// Where an executor listens and which scheduler it serves.
#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    /// The scheduler's host and port.
    pub scheduler: (String, u16),
    /// The address the executor binds; its Flight port (`port`) serves shuffle data to other
    /// executors and results to clients, its gRPC port (`grpc_port`) takes tasks.
    pub bind_host: String,
    pub port: u16,
    pub grpc_port: u16,
    /// Where it keeps shuffle files (`None`: a temporary directory).
    pub work_dir: Option<String>,
    /// Tasks it runs at once (`None`: the cores).
    pub concurrent_tasks: Option<usize>,
}

/// Runs an executor until the process ends.
pub async fn executor(options: ExecutorOptions) -> Result<(), BallistaError> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let config = ExecutorProcessConfig {
        bind_host: options.bind_host.clone(),
        external_host: Some(options.bind_host.clone()),
        port: options.port,
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler.0.clone(),
        scheduler_port: options.scheduler.1,
        // Wait for a scheduler started at the same moment.
        scheduler_connect_timeout_seconds: 30,
        work_dir: options.work_dir.clone(),
        vcores: options.concurrent_tasks.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        print_thread_info: false,
        override_function_registry: Some(Arc::new(function_registry())),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config)).await.map_err(|e| BallistaError::Executor {
        scheduler: format!("{}:{}", options.scheduler.0, options.scheduler.1),
        message: e.to_string(),
    })
}

/// Every function a DataFusion session has by default. Ballista's executor registry lacks the
/// nested (array) functions, which the indicators use (`array_has` over ICD-10 codes).
pub fn function_registry() -> BallistaFunctionRegistry {
    BallistaFunctionRegistry::from(&SessionStateBuilder::new().with_default_features().build())
}

/// Builds the published tables of `lake`'s current version in `session` (a cluster's) and commits
/// them as a new version through the lake's own transaction, as `lms etl publish` does locally; no
/// ETL and no pseudonymisation key take part, since nothing is loaded.
pub async fn publish(
    lake: &Lake,
    session: SessionContext,
    min_count: i64,
    full: bool,
) -> Result<Option<u64>, lms_lake::LakeError> {
    let options =
        BuildOptions { min_count, memory_limit: None, session: Some(BuildSession(session)), ..BuildOptions::default() };
    let publisher = lms_queries::IndicatorPublisher { full, ..lms_queries::IndicatorPublisher::new(options) };
    let snapshot = lake.snapshot().await?;
    let transaction = Transaction::new(lake, &new_run_id()).publisher(Some(Arc::new(publisher))).republish(true);
    let committed = transaction.commit(snapshot, |_| Changes::default()).await?;
    Ok(committed.commit.map(|c| c.version))
}

/// A session whose plans run on the Ballista cluster of the scheduler at `url` (`df://host:port`),
/// with a build's settings ([`lms_queries::publish::configure`]) and `target_partitions`
/// partitions per stage (`None`: DataFusion's default, the client's cores).
pub async fn session(url: &str, target_partitions: Option<usize>) -> Result<SessionContext, BallistaError> {
    let config = lms_queries::publish::configure(SessionConfig::new_with_ballista(), target_partitions);
    let state = SessionStateBuilder::new().with_default_features().with_config(config).build();
    SessionContext::remote_with_state(url, state)
        .await
        .map_err(|e| BallistaError::Session { url: url.to_string(), message: e.to_string() })
}
