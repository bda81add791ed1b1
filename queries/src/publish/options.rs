//! How a build runs: its options and its session.

use std::sync::Arc;

use datafusion::prelude::SessionContext;

use crate::error::{QueryError, sql_error};

/// How the published tables are built.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The disclosure-control threshold: numerators 1 to `min_count − 1` are suppressed.
    pub min_count: i64,
    /// Reference tables to use instead of the embedded ones, as (name, CSV text): for tests with a
    /// population small enough to work out by hand.
    pub reference: Vec<(String, String)>,
    /// Bytes the build's aggregations, sorts and joins may hold together (the build pool of `pool.rs`,
    /// which leaves repartitions out): beyond it, aggregations and sorts spill to temporary files on
    /// the warehouse host.
    /// `None`: no limit. A build that cannot finish within the limit runs again without one.
    pub memory_limit: Option<usize>,
    /// How many partitions the build's plans run in (`None`: DataFusion's default, the cores).
    /// The published tables are the same to the bit whatever it is.
    pub target_partitions: Option<usize>,
    /// Take the cells of the years whose data has not changed from the publication in the
    /// snapshot, which the caller has checked was built by the same definitions and reference data
    /// (`crate::incremental`). `false`: a full build.
    pub reuse: bool,
    /// A session to build in instead of one of this process: a distributed engine's (Ballista's,
    /// see the `lms-ballista` crate), configured with [`configure`]. Such a build keeps no table in
    /// this process's memory: every table its queries read is a Parquet file, the lake's or one
    /// the build writes into a temporary directory of this host, which the engine's executors must
    /// be able to read. [`BuildOptions::memory_limit`] does not apply to it.
    pub session: Option<BuildSession>,
    /// Cells of a region whose coverage of the indicator's extract that year is below this are
    /// withheld (indicators.md, "Coverage": 0.75). 0: none is.
    pub min_coverage: f64,
    /// The configured targets (`[[target]]`, checked with [`crate::target::validate`]).
    pub targets: Vec<crate::target::Target>,
}

/// The threshold of [`BuildOptions::min_coverage`] indicators.md sets.
pub const MIN_COVERAGE: f64 = 0.75;

/// A session for [`BuildOptions::session`].
#[derive(Clone)]
pub struct BuildSession(pub SessionContext);

impl std::fmt::Debug for BuildSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BuildSession({})", self.0.session_id())
    }
}

/// The default of [`BuildOptions::memory_limit`] (`[publish] memory_limit_mib`).
pub const BUILD_MEMORY_LIMIT: usize = 256 << 20;

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            min_count: crate::suppress::MIN_COUNT,
            reference: Vec::new(),
            memory_limit: Some(BUILD_MEMORY_LIMIT),
            target_partitions: None,
            reuse: false,
            session: None,
            min_coverage: MIN_COVERAGE,
            targets: Vec::new(),
        }
    }
}

/// The session a build runs in.
/// - Its memory pool ([`crate::pool::BuildPool`]) is fair among the operators that can spill, so
///   one aggregation cannot take what another needs.
/// - Joins keep the order they are written in. Every query of the build puts the small side of a
///   join first: that is the side a hash join holds in memory, and it cannot spill. (The one such
///   side that grows with the lake is the distinct course runs of data quality, matched with the
///   far larger evaluations.) DataFusion would otherwise swap sides by its statistics, which know
///   nothing useful of an aggregation's output: it put the aggregated contacts in the hash table
///   (118 MB at four years of ten times the national volume) and the 400 areas of residence on the
///   streaming side.
pub(super) fn build_session(options: &BuildOptions) -> Result<SessionContext, QueryError> {
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    if let Some(BuildSession(ctx)) = &options.session {
        return Ok(ctx.clone());
    }
    let config = configure(datafusion::prelude::SessionConfig::new(), options.target_partitions);
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = options.memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(crate::pool::BuildPool::new(limit)));
    }
    Ok(SessionContext::new_with_config_rt(config, runtime.build_arc().map_err(sql_error)?))
}

/// The settings of a build's session (see [`build_session`]) on top of `config`: the join order as
/// written, and `target_partitions` where given.
pub fn configure(
    mut config: datafusion::prelude::SessionConfig,
    target_partitions: Option<usize>,
) -> datafusion::prelude::SessionConfig {
    if let Some(n) = target_partitions {
        config = config.with_target_partitions(n.max(1));
    }
    config.options_mut().optimizer.join_reordering = false;
    config
}
