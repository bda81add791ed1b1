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
//! 4. **one hook where every read is seen** ([`seen`]): the channel, role and statement size of every
//!    admitted query, and each value read of the other endpoints (a metric and a debug line now; the
//!    access log sits there).
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

use crate::auth::Role;
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
    seen(state, channel, role, statement.len());
    Ok(Admission { permit, deadline })
}

/// Every read passes here: `bytes` is the statement's size (0 for a value endpoint).
pub fn seen(state: &AppState, channel: Channel, role: Role, bytes: usize) {
    state.http.read(channel.as_str(), role.as_str());
    tracing::debug!(channel = channel.as_str(), role = role.as_str(), bytes, "read");
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
