//! The one governed path every SQL statement takes, over HTTP (`POST /api/v1/sql`), the PostgreSQL
//! protocol and Arrow Flight SQL alike:
//!
//! 1. **admission** ([`admit`]): the statement-size cap (`max_statement_bytes`), then a permit of the
//!    one pool (`sql_concurrency`), waited for no longer than the deadline. Waiting holds no general
//!    request slot: the HTTP route is outside the server's concurrency limit;
//! 2. **the deadline** (`sql_timeout`, from admission): planning and every poll of the execution run
//!    under it, so it cancels a query mid-batch (DataFusion's operators yield to the runtime), and
//!    dropping the stream stops the plan's tasks;
//! 3. **the row limit** (`sql_row_limit`) on the plan, and the read-only session options set once
//!    (`lms_queries::Warehouse`);
//! 4. **one hook where every read is seen** ([`seen`]): every read on every channel (the SQL of
//!    HTTP, the PostgreSQL protocol and Flight SQL, and each request of the other endpoints) passes
//!    it once its answer is complete and before any of it is sent: a metric, and a line in the
//!    access log (`lms_lake::access`). When the line cannot be written the answer is not sent.
//!
//! The permit is held until the answer's last batch is sent, or the deadline passes, or the caller
//! goes away. Errors are [`ApiError`]s: one table maps each kind to an HTTP status, a gRPC code and
//! a SQLSTATE (`crate::error`).

use std::pin::Pin;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use futures::{Stream, StreamExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::state::{AppState, View};

/// Where a read came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Http,
    Postgres,
    Flight,
    /// The value endpoints, JSON-stat, metrics and the page (served from memory, no SQL).
    Values,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Http => "http",
            Channel::Postgres => "postgres",
            Channel::Flight => "flight",
            Channel::Values => "values",
        }
    }

    /// The channel's name in the access log (interfaces.md: `http`, `postgres`, `flight`, `cli`).
    pub fn logged_as(self) -> &'static str {
        match self {
            Channel::Http | Channel::Values => "http",
            Channel::Postgres => "postgres",
            Channel::Flight => "flight",
        }
    }
}

/// A read as its channel saw it, complete: who, from where, what, and what came of it.
#[derive(Debug)]
pub struct Seen {
    /// `None` for a caller whose credential was refused.
    pub caller: Option<Caller>,
    pub channel: Channel,
    pub client: Option<std::net::SocketAddr>,
    /// The path with its query string, or the SQL text.
    pub what: String,
    pub tables: Vec<String>,
    pub rows: u64,
    pub outcome: lms_lake::access::Outcome,
}

/// An admitted statement: its permit and its deadline.
pub struct Admission {
    permit: OwnedSemaphorePermit,
    pub deadline: Instant,
}

impl Admission {
    /// The permit alone, for a channel that runs the statement itself (the PostgreSQL protocol's
    /// handler), under [`Admission::deadline`].
    pub fn into_permit(self) -> OwnedSemaphorePermit {
        self.permit
    }
}

/// Admits `statement` from `channel`: its size, then a permit within the deadline.
pub async fn admit(state: &AppState, statement: &str, channel: Channel, role: Role) -> Result<Admission, ApiError> {
    let options = &state.options;
    let deadline = Instant::now() + options.sql_timeout;
    if statement.len() > options.max_statement_bytes {
        return Err(ApiError::PayloadTooLarge(options.max_statement_bytes));
    }
    if statement.trim().is_empty() {
        return Err(ApiError::BadRequest("no SQL in the statement".into()));
    }
    let permit = tokio::time::timeout_at(deadline, state.sql_permits.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::Timeout(options.sql_timeout.as_secs()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::debug!(channel = channel.as_str(), role = role.as_str(), bytes = statement.len(), "admitted");
    Ok(Admission { permit, deadline })
}

/// Every read passes here, once its answer is complete and before any of it is sent: counted, and
/// written to the access log (when the server keeps one). `Err` when the line could not be written:
/// the caller then sends the error instead of the answer.
pub async fn seen(state: &AppState, read: Seen) -> Result<(), ApiError> {
    let role = read.caller.as_ref().map(|c| c.role);
    state.http.read(read.channel.as_str(), role.map_or("none", Role::as_str));
    tracing::debug!(channel = read.channel.as_str(), role = ?role, rows = read.rows, outcome = ?read.outcome, "read");
    let Some(log) = &state.access else { return Ok(()) };
    let line = lms_lake::access::Read {
        token: read.caller.as_ref().and_then(|c| c.token.clone()),
        role: role.map(|r| r.as_str().to_string()),
        channel: read.channel.logged_as().to_string(),
        client: read.client.map(|a| a.to_string()),
        what: read.what,
        tables: read.tables,
        rows: read.rows,
        outcome: read.outcome,
    };
    log.record(line).await.map(|_| ()).map_err(|e| ApiError::AccessLog(e.to_string()))
}

/// The outcome an error stands for in the access log: a refusal (credential, role, a limit) or an
/// error.
pub fn outcome_of(e: &ApiError) -> lms_lake::access::Outcome {
    use lms_lake::access::Outcome;
    match e {
        ApiError::Unauthorized
        | ApiError::Forbidden(_)
        | ApiError::PayloadTooLarge(_)
        | ApiError::TooManyConnections => Outcome::Refused,
        _ => Outcome::Error,
    }
}

/// Runs `statement` to its end under the admission: its schema, batches and row count. The answer
/// is held whole (at most `sql_row_limit` rows) so that its access-log line is written before any of
/// it is sent.
pub async fn answer(
    state: &AppState,
    view: &View,
    statement: &str,
    admission: Admission,
) -> Result<(SchemaRef, Vec<RecordBatch>, u64), ApiError> {
    let (schema, mut stream) = run(state, view, statement, admission).await?;
    let mut batches = Vec::new();
    let mut rows = 0u64;
    while let Some(b) = stream.next().await {
        let b = b?;
        rows += b.num_rows() as u64;
        batches.push(b);
    }
    Ok((schema, batches, rows))
}

/// A planned statement's batches under its deadline, holding its permit.
pub type Batches = Pin<Box<dyn Stream<Item = Result<RecordBatch, ApiError>> + Send>>;

/// Plans `statement` (read-only, at most `sql_row_limit` rows) within the deadline; its schema.
pub async fn plan(
    state: &AppState,
    view: &View,
    statement: &str,
    admission: &Admission,
) -> Result<datafusion::prelude::DataFrame, ApiError> {
    let invalid = |e: &dyn std::fmt::Display| ApiError::InvalidSql(e.to_string());
    let too_long = || ApiError::Timeout(state.options.sql_timeout.as_secs());
    tokio::time::timeout_at(admission.deadline, async {
        let df = view.warehouse.plan(statement).await.map_err(|e| invalid(&e))?;
        df.limit(0, Some(state.options.sql_row_limit)).map_err(|e| invalid(&e))
    })
    .await
    .map_err(|_| too_long())?
}

/// Plans and runs `statement`: the schema of what it answers (the physical plan's, which is what the
/// batches carry) and its batches, each polled under the deadline.
pub async fn run(
    state: &AppState,
    view: &View,
    statement: &str,
    admission: Admission,
) -> Result<(SchemaRef, Batches), ApiError> {
    let df = plan(state, view, statement, &admission).await?;
    let timeout = state.options.sql_timeout;
    let stream = tokio::time::timeout_at(admission.deadline, df.execute_stream())
        .await
        .map_err(|_| ApiError::Timeout(timeout.as_secs()))?
        .map_err(|e| ApiError::InvalidSql(e.to_string()))?;
    let schema = stream.schema();
    Ok((schema, governed(stream, admission, timeout)))
}

/// `stream` polled under the admission's deadline: at the deadline one `Timeout` and the end (the
/// plan is dropped, which stops it); the permit goes with the last item.
fn governed(
    stream: datafusion::physical_plan::SendableRecordBatchStream,
    admission: Admission,
    timeout: std::time::Duration,
) -> Batches {
    let deadline = admission.deadline;
    Box::pin(
        futures::stream::unfold(Some((stream, admission)), move |state| async move {
            let (mut stream, admission) = state?;
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Ok(batch))) => Some((Ok(batch), Some((stream, admission)))),
                Ok(Some(Err(e))) => Some((Err(ApiError::InvalidSql(e.to_string())), None)),
                Ok(None) => None,
                Err(_) => Some((Err(ApiError::Timeout(timeout.as_secs())), None)),
            }
        })
        // Polled again after its end (a caller that took the first batch apart) it stays ended.
        .fuse(),
    )
}
