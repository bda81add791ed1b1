//! The PostgreSQL wire protocol (simple and extended query) for tools that speak it: psql, Grafana's
//! PostgreSQL data source, R's RPostgres, psycopg, ODBC and JDBC drivers. The protocol, the Arrow →
//! PostgreSQL encoding and `pg_catalog` come from `datafusion-postgres` (pgwire underneath); this
//! module decides who may connect and what they see:
//!
//! - The password is a configured token, checked as a bearer token is over HTTP. Without TLS it is
//!   accepted only from loopback peers. With no tokens configured (as in `lms demo`) the server
//!   listens on loopback only and every caller is an analyst, with no password asked.
//! - A role sees over the wire the tables it reads over HTTP: `dashboard` the indicator tables
//!   (`indicator_values`, `variation`, `funnel`, `legend`), `controller` also `data_quality` and
//!   `data_freshness`, `analyst` every published table and the reference data. Person-level tables
//!   are in no session the server has.
//! - Only reading statements run: a query must plan to a read-only plan (DDL, DML and `SET` of
//!   DataFusion options are refused); psql's, JDBC's and Grafana's `SET`, `SHOW` and `BEGIN` are
//!   answered as PostgreSQL would. Cursors are not offered.
//! - The HTTP SQL endpoint's limits hold: `sql_concurrency` queries at a time, each within
//!   `sql_timeout` from planning to its last row, and at most `sql_row_limit` rows.
//!
//! Each lake version gets its own sessions (one per role, made on first use), so a connection's
//! next query reads the version the server serves by then.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, ParamValues, ScalarValue};
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::{
    ColumnarValue, EmptyRelation, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Set, Statement};
use datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire;
use datafusion_postgres::{DfSessionService, QueryHook};
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, PgWireConnectionState, PgWireServerHandlers, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
pub use pgwire::tokio::TlsAcceptor;
use pgwire::types::format::FormatOptions;
use tokio::sync::OwnedSemaphorePermit;

use crate::auth::{Caller, Role};
use crate::state::AppState;

/// The tables each role sees, each role also those of the roles below it. Named, not "all but the
/// person-level ones", so a table added to the published session is not served here until it is
/// added (a test compares the analyst's list with the session's tables).
const DASHBOARD_TABLES: [&str; 5] = ["indicator_values", "variation", "funnel", "trend", "legend"];
const CONTROLLER_TABLES: [&str; 2] = ["data_quality", "data_freshness"];
const ANALYST_TABLES: [&str; 6] =
    ["regions", "health_trusts", "areas", "population", "icd10_groups", "kommune_history"];

/// Whether `role` may read `table` over the wire.
pub fn visible(role: Role, table: &str) -> bool {
    let allowed = |tables: &[&str]| tables.contains(&table);
    match role {
        Role::Analyst => allowed(&DASHBOARD_TABLES) || allowed(&CONTROLLER_TABLES) || allowed(&ANALYST_TABLES),
        Role::Controller => allowed(&DASHBOARD_TABLES) || allowed(&CONTROLLER_TABLES),
        Role::Dashboard => allowed(&DASHBOARD_TABLES),
    }
}

/// PostgreSQL settings a client may set on its connection (the library keeps them per connection).
/// Any other one-word setting is answered and ignored: DataFusion reads some short names as its
/// own options (`timezone`), and its options belong to the session the role's connections share.
const CONNECTION_SETTINGS: [&str; 7] = [
    "statement_timeout",
    "datestyle",
    "intervalstyle",
    "bytea_output",
    "application_name",
    "extra_float_digits",
    "search_path",
];

type PgStatement = (String, Option<(Statement, LogicalPlan)>);

fn error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message.into())))
}

/// The error's SQLSTATE, by the one table of `crate::error`.
fn pg_error(e: &crate::error::ApiError) -> PgWireError {
    error(e.sqlstate(), e.to_string())
}

/// The statement-size cap at parsing too (the extended protocol parses before it runs).
fn within_size(state: &AppState, sql: &str) -> PgWireResult<()> {
    let max = state.options.max_statement_bytes;
    if sql.len() > max {
        return Err(pg_error(&crate::error::ApiError::PayloadTooLarge(max)));
    }
    Ok(())
}

fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), code.into(), message.into())))
}

/// Who a connection authenticated as (the token's name and role), kept where the client cannot set
/// it (startup parameters go to the metadata map; this is a typed session extension).
struct Admitted(Caller);

fn role_of(client: &(impl ClientInfo + ?Sized)) -> PgWireResult<Role> {
    client.session_extensions().get::<Admitted>().map(|a| a.0.role).ok_or_else(|| fatal("28000", "not authenticated"))
}

/// Password authentication with the configured tokens.
struct TokenStartup {
    state: Arc<AppState>,
    parameters: DefaultServerParameterProvider,
    pids: RandomPidSecretKeyGenerator,
}

impl TokenStartup {
    async fn admit<C>(&self, client: &mut C, caller: Caller) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.session_extensions().insert(Admitted(caller));
        let (pid, secret) = self.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret);
        finish_authentication(client, &self.parameters).await
    }
}

#[async_trait]
impl StartupHandler for TokenStartup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                let tokens = &self.state.options.tokens;
                if tokens.is_empty() {
                    // No tokens: every caller is an analyst, so only from this host (the listener is
                    // bound to loopback too; this holds whoever calls `serve`).
                    if !client.socket_addr().ip().is_loopback() {
                        return Err(fatal(
                            "28000",
                            "this server has no tokens: it takes connections from this host only",
                        ));
                    }
                    return self.admit(client, Caller { token: None, role: Role::Analyst }).await;
                }
                if !client.is_secure() && !client.socket_addr().ip().is_loopback() {
                    return Err(fatal(
                        "28000",
                        "this server takes a token as password only over TLS from other hosts (sslmode=require)",
                    ));
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client.send(PgWireBackendMessage::Authentication(Authentication::CleartextPassword)).await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => {
                let password = password.into_password()?;
                let user = client.metadata().get(pgwire::api::METADATA_USER).cloned().unwrap_or_default();
                let bearer = format!("Bearer {}", password.password);
                match self.state.options.tokens.caller(Some(&bearer)) {
                    Ok(caller) => {
                        tracing::debug!(%user, role = %caller.role, "postgres connection admitted");
                        self.admit(client, caller).await?;
                    }
                    Err(_) => return Err(PgWireError::InvalidPassword(user)),
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Sessions of the served version, one per role, made on first use.
#[derive(Default)]
struct Sessions {
    version: u64,
    by_role: [Option<Arc<DfSessionService>>; 3],
}

/// The query handlers: each query goes to the session of the connection's role over the version
/// served, within the limits.
pub struct Wire {
    state: Arc<AppState>,
    sessions: tokio::sync::Mutex<Sessions>,
    /// For the statement descriptions pgwire asks of a parsed statement (they need no session).
    describer: Arc<DfSessionService>,
    startup: Arc<TokenStartup>,
}

impl Wire {
    pub fn new(state: Arc<AppState>) -> Wire {
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.default_transaction_read_only = true;
        // What `version()` and `current_setting('server_version')` say too.
        parameters.server_version = "16.6".into();
        Wire {
            startup: Arc::new(TokenStartup { state: state.clone(), parameters, pids: Default::default() }),
            state,
            sessions: Default::default(),
            describer: Arc::new(DfSessionService::new(Arc::new(SessionContext::new()))),
        }
    }

    /// The session `role` queries the served version in.
    async fn session(&self, role: Role) -> PgWireResult<Arc<DfSessionService>> {
        let view = self.state.ready().map_err(|e| error("57P03", e.to_string()))?;
        let mut sessions = self.sessions.lock().await;
        if sessions.version != view.version {
            *sessions = Sessions { version: view.version, by_role: Default::default() };
        }
        let slot = &mut sessions.by_role[role as usize];
        if let Some(s) = slot {
            return Ok(s.clone());
        }
        let ctx = role_session(view.warehouse.context(), role).await.map_err(|e| error("XX000", e))?;
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(ReadOnly { last: false }),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
            Arc::new(ReadOnly { last: true }),
        ];
        let service = Arc::new(DfSessionService::new_with_hooks(Arc::new(ctx), hooks));
        *slot = Some(service.clone());
        Ok(service)
    }

    /// A permit to run a query, and its deadline (from now). The permit is held by a task of its
    /// own until every answer holding the returned guard is done, or the deadline passes, whichever
    /// comes first: a client that stops reading, or leaves a portal half read, cannot keep it.
    async fn permit(&self, statement: &str, role: Role) -> PgWireResult<(Arc<Running>, tokio::time::Instant)> {
        let admission = crate::query::admit(&self.state, statement, crate::query::Channel::Postgres, role)
            .await
            .map_err(|e| pg_error(&e))?;
        let deadline = admission.deadline;
        let permit: OwnedSemaphorePermit = admission.into_permit();
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _permit = permit;
            tokio::select! {
                _ = finished => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        });
        Ok((Arc::new(Running(done)), deadline))
    }

    /// `response` with its rows read to the end (at most the row limit, within the deadline) before
    /// any is sent, so that its access-log line is written first; the permit is held until then.
    /// The rows answered, or the error with the rows read before it.
    async fn govern(
        &self,
        response: Response,
        permit: Arc<Running>,
        deadline: tokio::time::Instant,
    ) -> Result<(Response, Option<u64>), PgWireError> {
        let Response::Query(query) = response else { return Ok((response, None)) };
        let QueryResponse { command_tag, row_schema, data_rows, .. } = query;
        let timeout = self.state.options.sql_timeout;
        let mut rows = data_rows.take(self.state.options.sql_row_limit);
        let mut answered = Vec::new();
        let read = async {
            while let Some(row) = rows.next().await {
                answered.push(row?);
                // A clock check per row too, for a stream that never waits.
                if tokio::time::Instant::now() >= deadline {
                    return Err(too_long(timeout));
                }
            }
            Ok(())
        };
        let read = tokio::time::timeout_at(deadline, read).await.unwrap_or_else(|_| Err(too_long(timeout)));
        drop(permit);
        read?;
        let n = answered.len() as u64;
        let mut governed = QueryResponse::new(row_schema, futures::stream::iter(answered.into_iter().map(Ok)));
        governed.set_command_tag(&command_tag);
        Ok((Response::Query(governed), Some(n)))
    }

    /// Passes a statement's read through the one hook (`crate::query::seen`): `rows` `None` for a
    /// statement that read nothing (`SET`, `BEGIN`), which is not a read.
    async fn seen(
        &self,
        client: &(impl ClientInfo + ?Sized),
        statement: &str,
        answer: &Result<Option<u64>, &PgWireError>,
    ) -> PgWireResult<()> {
        use lms_lake::access::Outcome;
        let (rows, outcome) = match answer {
            Ok(None) => return Ok(()),
            Ok(Some(n)) => (*n, Outcome::Ok),
            Err(PgWireError::UserError(info)) if ["25006", "42501", "54000", "28000"].contains(&info.code.as_str()) => {
                (0, Outcome::Refused)
            }
            Err(_) => (0, Outcome::Error),
        };
        let seen = crate::query::Seen {
            caller: client.session_extensions().get::<Admitted>().map(|a| a.0.clone()),
            channel: crate::query::Channel::Postgres,
            client: Some(client.socket_addr()),
            what: statement.to_string(),
            tables: lms_queries::tables_read(statement),
            rows,
            outcome,
        };
        crate::query::seen(&self.state, seen).await.map_err(|e| pg_error(&e))
    }

    /// Runs the answers of one statement through [`Wire::govern`] and the hook, in order.
    async fn answered(
        &self,
        client: &(impl ClientInfo + ?Sized),
        statement: &str,
        responses: PgWireResult<Vec<Response>>,
        permit: Arc<Running>,
        deadline: tokio::time::Instant,
    ) -> PgWireResult<Vec<Response>> {
        let responses = match responses {
            Ok(r) => r,
            Err(e) => {
                self.seen(client, statement, &Err(&e)).await?;
                return Err(e);
            }
        };
        let mut out = Vec::with_capacity(responses.len());
        for r in responses {
            match self.govern(r, permit.clone(), deadline).await {
                Ok((r, rows)) => {
                    self.seen(client, statement, &Ok(rows)).await?;
                    out.push(r);
                }
                Err(e) => {
                    self.seen(client, statement, &Err(&e)).await?;
                    return Err(e);
                }
            }
        }
        Ok(out)
    }
}

/// Held by a query's answers; when the last one is dropped, its permit is released.
struct Running(#[allow(dead_code)] tokio::sync::oneshot::Sender<()>);

fn too_long(timeout: Duration) -> PgWireError {
    error("57014", format!("canceling statement: it took longer than {} s", timeout.as_secs()))
}

/// A session over the tables of `published` that `role` may read, with `information_schema` and
/// `pg_catalog` for the clients' table and column listings, and the same memory budget.
async fn role_session(published: &SessionContext, role: Role) -> Result<SessionContext, String> {
    let config = SessionConfig::new().with_information_schema(true);
    let ctx = SessionContext::new_with_config_rt(config, published.runtime_env());
    let catalog = published.catalog("datafusion").ok_or("no catalog `datafusion`")?;
    let schema = catalog.schema("public").ok_or("no schema `public`")?;
    for name in schema.table_names() {
        if !visible(role, &name) {
            continue;
        }
        if let Some(table) = schema.table(&name).await.map_err(|e| e.to_string())? {
            ctx.register_table(name.as_str(), table).map_err(|e| e.to_string())?;
        }
    }
    setup_pg_catalog(&ctx, "datafusion", EmptyContextProvider).map_err(|e| e.to_string())?;
    ctx.register_udf(ScalarUDF::from(PgFunction::new("version")));
    ctx.register_udf(ScalarUDF::from(PgFunction::new("current_setting")));
    ctx.register_udf(ScalarUDF::from(PgFunction::new("to_regtype")));
    Ok(ctx)
}

/// PostgreSQL's `version()`, `current_setting(name [, missing_ok])` and `to_regtype(name)`, which
/// drivers ask for on connecting: SQLAlchemy parses the version, Grafana's PostgreSQL data source
/// reads `server_version_num`, psycopg looks up extension types (hstore) by `to_regtype`, which
/// here finds none. The version is the one the protocol's `server_version` parameter gives.
#[derive(Debug)]
struct PgFunction {
    name: &'static str,
    signature: Signature,
}

impl PgFunction {
    fn new(name: &'static str) -> PgFunction {
        let signature = match name {
            "version" => Signature::nullary(Volatility::Stable),
            "to_regtype" => Signature::exact(vec![DataType::Utf8], Volatility::Stable),
            _ => Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
                ],
                Volatility::Stable,
            ),
        };
        PgFunction { name, signature }
    }
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PgFunction {}

impl std::hash::Hash for PgFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

/// A setting as PostgreSQL 16 names it; `None` for the ones this server does not have.
fn setting(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "server_version" => "16.6",
        "server_version_num" => "160006",
        "search_path" => "public",
        "server_encoding" | "client_encoding" => "UTF8",
        "datestyle" => "ISO, MDY",
        "timezone" => "UTC",
        "standard_conforming_strings" | "integer_datetimes" => "on",
        "transaction_read_only" | "default_transaction_read_only" => "on",
        "max_identifier_length" => "63",
        _ => return None,
    })
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        // to_regtype gives an oid, an int4 in this pg_catalog.
        Ok(if self.name == "to_regtype" { DataType::Int32 } else { DataType::Utf8 })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        if self.name == "version" {
            let version = format!(
                "PostgreSQL 16.6 (LMS Monitor {}, Apache DataFusion {})",
                env!("CARGO_PKG_VERSION"),
                datafusion::DATAFUSION_VERSION
            );
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(version))));
        }
        if self.name == "to_regtype" {
            return Ok(ColumnarValue::Scalar(ScalarValue::Int32(None)));
        }
        let names = args.args[0].to_array(args.number_rows)?;
        let names = names.as_string::<i32>();
        let values: StringArray = names.iter().map(|n| n.and_then(setting)).collect();
        Ok(ColumnarValue::Array(Arc::new(values)))
    }
}

/// Lets reading statements through and refuses the rest. First in the hook chain it plans and runs
/// queries itself (so a query that would write, `SELECT … INTO` among them, never runs) and passes
/// PostgreSQL's connection settings, `SHOW` and transaction statements on to the library's hooks;
/// last, it refuses whatever none of them answered.
struct ReadOnly {
    last: bool,
}

fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

fn refused(statement: &Statement) -> PgWireError {
    let text = statement.to_string();
    let head: String = text.chars().take(60).collect();
    error("25006", format!("read-only: only queries are allowed (`{head}`)"))
}

enum Kind {
    /// Planned and run here.
    Query,
    /// Answered with this tag, and nothing done: savepoints, which drivers (psqlODBC, SQLAlchemy)
    /// set around statements (there is nothing to undo in a read-only session), and settings
    /// this server does not have.
    Answered(&'static str),
    /// Left to the library's hooks.
    Session,
    Refused,
}

fn kind(statement: &Statement) -> Kind {
    match statement {
        Statement::Query(_)
        | Statement::Explain { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. } => Kind::Query,
        // A dotted name is a DataFusion option (`datafusion.runtime.memory_limit` among them) and
        // the session is shared by the role's connections: only PostgreSQL's one-word settings
        // pass, which the library keeps per connection or ignores.
        Statement::Savepoint { .. } => Kind::Answered("SAVEPOINT"),
        Statement::ReleaseSavepoint { .. } => Kind::Answered("RELEASE"),
        Statement::Rollback { savepoint: Some(_), .. } => Kind::Answered("ROLLBACK"),
        Statement::Set(Set::SingleAssignment { variable, .. }) => match variable.0.as_slice() {
            [part] => match part.as_ident() {
                Some(name) if name.quote_style.is_none() => {
                    if CONNECTION_SETTINGS.contains(&name.value.to_ascii_lowercase().as_str()) {
                        Kind::Session
                    } else {
                        Kind::Answered("SET")
                    }
                }
                // `SET "datafusion.runtime.memory_limit" = …` is one quoted word.
                _ => Kind::Refused,
            },
            _ => Kind::Refused,
        },
        // The library keeps the zone with the connection (for formatting timestamps).
        Statement::Set(Set::SetTimeZone { .. }) => Kind::Session,
        Statement::Set(Set::SetNames { .. } | Set::SetNamesDefault {}) => Kind::Answered("SET"),
        Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. } => Kind::Session,
        // Cursors are not offered: a cursor's rows would outlive the permit, the deadline and the
        // row limit of the statement that opened it. An answer streams anyway.
        _ => Kind::Refused,
    }
}

/// Plans `statement` in `ctx`, refusing any plan that would change something.
async fn plan_read_only(statement: &Statement, ctx: &SessionContext) -> PgWireResult<LogicalPlan> {
    let plan = ctx
        .state()
        .statement_to_plan(DfStatement::Statement(Box::new(statement.clone())))
        .await
        .map_err(|e| error("42601", e.to_string()))?;
    read_only().verify_plan(&plan).map_err(|_| refused(statement))?;
    Ok(plan)
}

#[async_trait]
impl QueryHook for ReadOnly {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if self.last {
            return Some(Err(refused(statement)));
        }
        match kind(statement) {
            Kind::Query => Some(
                async {
                    let plan = plan_read_only(statement, ctx).await?;
                    let df = ctx.execute_logical_plan(plan).await.map_err(|e| error("42601", e.to_string()))?;
                    let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
                    Ok(Response::Query(encode_dataframe(df, &Format::UnifiedText, Some(options)).await?))
                }
                .await,
            ),
            Kind::Answered(tag) => Some(Ok(Response::Execution(Tag::new(tag)))),
            Kind::Session => None,
            Kind::Refused => Some(Err(refused(statement))),
        }
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        if self.last {
            return None;
        }
        match kind(statement) {
            Kind::Query => Some(plan_read_only(statement, ctx).await),
            Kind::Answered(_) => Some(Ok(LogicalPlan::EmptyRelation(EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(DFSchema::empty()),
            }))),
            Kind::Session => None,
            Kind::Refused => Some(Err(refused(statement))),
        }
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        // Parsing refused the rest; a `SET` no hook answered has an empty plan and does nothing.
        match kind(statement) {
            Kind::Refused => Some(Err(refused(statement))),
            Kind::Answered(tag) => Some(Ok(Response::Execution(Tag::new(tag)))),
            _ => None,
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for Wire {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let role = role_of(client)?;
        let session = self.session(role).await?;
        let (permit, deadline) = match self.permit(query, role).await {
            Ok(p) => p,
            Err(e) => {
                self.seen(client, query, &Err(&e)).await?;
                return Err(e);
            }
        };
        let responses = tokio::time::timeout_at(deadline, SimpleQueryHandler::do_query(&*session, client, query))
            .await
            .unwrap_or_else(|_| Err(too_long(self.state.options.sql_timeout)));
        self.answered(client, query, responses, permit, deadline).await
    }
}

/// Parses and plans each statement in the session of the connection's role.
pub struct RoleParser {
    wire: Arc<Wire>,
}

#[async_trait]
impl QueryParser for RoleParser {
    type Statement = PgStatement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<PgStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        within_size(&self.wire.state, sql)?;
        let session = self.wire.session(role_of(client)?).await?;
        session.query_parser().parse_sql(client, sql, types).await
    }

    fn get_parameter_types(&self, statement: &PgStatement) -> PgWireResult<Vec<Type>> {
        self.wire.describer.query_parser().get_parameter_types(statement)
    }

    fn get_result_schema(&self, statement: &PgStatement, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        self.wire.describer.query_parser().get_result_schema(statement, format)
    }
}

/// The handlers of one server (shared by its connections).
pub struct Handlers {
    wire: Arc<Wire>,
    parser: Arc<RoleParser>,
}

impl Handlers {
    pub fn new(state: Arc<AppState>) -> Handlers {
        let wire = Arc::new(Wire::new(state));
        Handlers { parser: Arc::new(RoleParser { wire: wire.clone() }), wire }
    }
}

/// The extended protocol: parse in the role's session, run within the limits.
pub struct Extended {
    wire: Arc<Wire>,
    parser: Arc<RoleParser>,
}

#[async_trait]
impl ExtendedQueryHandler for Extended {
    type Statement = PgStatement;
    type QueryParser = RoleParser;

    fn query_parser(&self) -> Arc<RoleParser> {
        self.parser.clone()
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<PgStatement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PgStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let role = role_of(client)?;
        let session = self.wire.session(role).await?;
        let statement = portal.statement.statement.0.clone();
        let (permit, deadline) = match self.wire.permit(&statement, role).await {
            Ok(p) => p,
            Err(e) => {
                self.wire.seen(client, &statement, &Err(&e)).await?;
                return Err(e);
            }
        };
        let response =
            tokio::time::timeout_at(deadline, ExtendedQueryHandler::do_query(&*session, client, portal, max_rows))
                .await
                .unwrap_or_else(|_| Err(too_long(self.wire.state.options.sql_timeout)))
                .map(|r| vec![r]);
        let mut answered = self.wire.answered(client, &statement, response, permit, deadline).await?;
        Ok(answered.pop().expect("one response"))
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.wire.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::new(Extended { wire: self.wire.clone(), parser: self.parser.clone() })
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.wire.startup.clone()
    }
}

/// A TLS acceptor from PEM files: the certificate chain and its private key.
pub fn tls(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor, String> {
    use pgwire::tokio::tokio_rustls::rustls;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("[postgres] tls_cert {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("[postgres] tls_key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| format!("[postgres] TLS: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves the PostgreSQL protocol on `listener` until `shutdown` completes (open connections end
/// with the process).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    tls: Option<TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(state.options.max_connections.max(1)));
    // What a client may send before the server answers: a statement at the cap, with room for the
    // extended protocol's messages around it.
    let budget = 4 * state.options.max_statement_bytes + 64 * 1024;
    let idle = state.options.postgres_idle_timeout;
    let handlers = Arc::new(Handlers::new(state));
    tokio::pin!(shutdown);
    loop {
        let (socket, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "postgres: accept failed");
                    continue;
                }
            },
        };
        // Beyond the cap a connection is closed at once (pgwire gives each a startup deadline).
        let Ok(permit) = permits.clone().try_acquire_owned() else { continue };
        let handlers = handlers.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = serve_socket(socket, tls, handlers, budget, idle).await {
                tracing::debug!(%peer, error = %e, "postgres connection ended with an error");
            }
        });
    }
}

/// pgwire's connection loop (`pgwire::tokio::process_socket`, which takes a bare `TcpStream`), over
/// [`crate::budgeted::Budgeted`] IO: a client may send at most `budget` bytes before the server answers (pgwire
/// would buffer a message of up to 1 GiB before the size cap could refuse it), and is closed after
/// `idle` without a byte either way.
async fn serve_socket(
    socket: tokio::net::TcpStream,
    tls: Option<TlsAcceptor>,
    handlers: Arc<Handlers>,
    budget: usize,
    idle: Duration,
) -> std::io::Result<()> {
    use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
    use pgwire::messages::PgWireFrontendMessage;
    use tokio_util::codec::{Framed, FramedParts};
    // pgwire's own startup deadline.
    let startup = tokio::time::sleep(Duration::from_secs(60));
    tokio::pin!(startup);
    // Before `Budgeted` is in place, silence is bounded by the idle timeout too.
    let silent = tokio::time::sleep(idle);
    let negotiated = tokio::select! {
        _ = &mut startup => return Ok(()),
        _ = silent => return Ok(()),
        s = pgwire::tokio::server::negotiate_tls(socket, tls) => s?,
    };
    let Some(framed) = negotiated else { return Ok(()) };
    let old = framed.into_parts();
    let mut parts = FramedParts::new(crate::budgeted::Budgeted::new(old.io, budget, idle), old.codec);
    parts.read_buf = old.read_buf;
    parts.write_buf = old.write_buf;
    let mut socket = Framed::from_parts(parts);
    let (startup_handler, simple, extended) =
        (handlers.startup_handler(), handlers.simple_query_handler(), handlers.extended_query_handler());
    let (copy, cancel, errors) = (handlers.copy_handler(), handlers.cancel_handler(), handlers.error_handler());
    loop {
        let msg = if matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup | PgWireConnectionState::AuthenticationInProgress
        ) {
            tokio::select! {
                _ = &mut startup => None,
                msg = socket.next() => msg,
            }
        } else {
            socket.next().await
        };
        let Some(Ok(msg)) = msg else { break };
        // The client is leaving: close (asyncpg waits for it).
        if matches!(msg, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        let is_extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => msg.is_extended_query(),
        };
        let result = pgwire::tokio::server::process_message(
            msg,
            &mut socket,
            startup_handler.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await;
        if let Err(mut e) = result {
            errors.on_error(&socket, &mut e);
            pgwire::tokio::server::process_error(&mut socket, e, is_extended_query).await?;
        }
    }
    Ok(())
}
