//! Arrow Flight SQL for analysts' tools (ADBC, JDBC/DBeaver): the same read-only SQL over the same
//! published tables as `POST /api/v1/sql`, for the `analyst` role. Every call carries
//! `authorization: Bearer <token>`; a client with a user name and password does the Basic handshake
//! (the password is the token) and gets the bearer back. Planning (`GetFlightInfo`) checks and plans
//! the statement and returns a ticket holding it; the data call (`DoGet`) runs it and streams the
//! batches. The catalog, schema and table listings and `SqlInfo` let tools show their trees.

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTables, CommandStatementQuery,
    ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket};
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::Role;
use crate::error::ApiError;
use crate::query::{self, Channel};
use crate::state::AppState;

/// The catalog and schema DataFusion registers the tables under.
const CATALOG: &str = "datafusion";
const SCHEMA: &str = "public";

/// The Flight SQL service over the server's state.
#[derive(Clone)]
pub struct FlightSql {
    state: Arc<AppState>,
    info: Arc<SqlInfoData>,
}

impl FlightSql {
    pub fn new(state: Arc<AppState>) -> FlightSql {
        let mut info = SqlInfoDataBuilder::new();
        info.append(SqlInfo::FlightSqlServerName, "LMS Monitor");
        info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        info.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
        info.append(SqlInfo::FlightSqlServerReadOnly, true);
        FlightSql { state, info: Arc::new(info.build().expect("static SqlInfo")) }
    }

    /// The tonic service to serve.
    pub fn service(self) -> FlightServiceServer<FlightSql> {
        FlightServiceServer::new(self)
    }

    fn admit<T>(&self, request: &Request<T>) -> Result<(Arc<crate::state::View>, Role), Status> {
        let header = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        let role = self.state.options.tokens.require(header, Role::Analyst).map_err(status)?;
        Ok((self.state.ready().map_err(status)?, role))
    }
}

/// The error's gRPC status, by the one table of `crate::error`.
fn status(e: ApiError) -> Status {
    Status::new(e.grpc(), e.to_string())
}

type DoGetStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static>>;

fn batches_stream(
    schema: datafusion::arrow::datatypes::SchemaRef,
    batches: impl Stream<Item = Result<datafusion::arrow::array::RecordBatch, FlightError>> + Send + 'static,
) -> Response<DoGetStream> {
    let stream = FlightDataEncoderBuilder::new().with_schema(schema).build(batches).map_err(Status::from);
    Response::new(Box::pin(stream))
}

/// The one batch a metadata builder makes (catalogs, schemas, tables, SqlInfo), as a `DoGet` stream.
fn one_batch(
    schema: datafusion::arrow::datatypes::SchemaRef,
    batch: Result<datafusion::arrow::array::RecordBatch, FlightError>,
) -> Response<DoGetStream> {
    batches_stream(schema, futures::stream::once(async { batch }))
}

fn info_for(
    message: &impl ProstMessageExt,
    schema: &datafusion::arrow::datatypes::Schema,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let ticket = Ticket::new(message.as_any().encode_to_vec());
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(e.to_string()))?
        .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>, Status> {
        let header = request.metadata().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        // Basic user:token (the token as password) or Bearer token; the answer carries the bearer.
        self.state.options.tokens.require(Some(header), Role::Analyst).map_err(status)?;
        let secret = crate::auth::secret(header).unwrap_or_default();
        let bearer = format!("Bearer {secret}");
        let output = futures::stream::iter(vec![Ok(HandshakeResponse { protocol_version: 0, payload: secret.into() })]);
        let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> = Response::new(Box::pin(output));
        response
            .metadata_mut()
            .insert("authorization", bearer.parse().map_err(|_| Status::internal("token not a header value"))?);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let (view, role) = self.admit(&request)?;
        // Planned as the data call will plan it, under the same admission: the schema announced is
        // the physical plan's, the one the batches carry (`SELECT version()` differs otherwise).
        let admission = query::admit(&self.state, &query.query, Channel::Flight, role).await.map_err(status)?;
        let df = query::plan(&self.state, &view, &query.query, &admission).await.map_err(status)?;
        let plan = tokio::time::timeout_at(admission.deadline, df.create_physical_plan())
            .await
            .map_err(|_| status(ApiError::Timeout(self.state.options.sql_timeout.as_secs())))?
            .map_err(|e| status(ApiError::InvalidSql(e.to_string())))?;
        let schema = plan.schema();
        let ticket = TicketStatementQuery { statement_handle: query.query.into_bytes().into() };
        info_for(&ticket, &schema, request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let sql = String::from_utf8(ticket.statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("the ticket is not a statement"))?;
        let header = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        let caller = self.state.options.tokens.caller(header).ok();
        let answer = async {
            let role = self.state.options.tokens.require(header, Role::Analyst)?;
            let view = self.state.ready()?;
            let admission = query::admit(&self.state, &sql, Channel::Flight, role).await?;
            query::answer(&self.state, &view, &sql, admission).await
        }
        .await;
        // The whole answer is made first, so its access-log line is written before any of it is sent.
        let seen = query::Seen {
            caller,
            channel: Channel::Flight,
            client: request.remote_addr(),
            what: sql.clone(),
            tables: lms_queries::tables_read(&sql),
            rows: answer.as_ref().map_or(0, |a| a.2),
            outcome: answer.as_ref().map_or_else(query::outcome_of, |_| lms_lake::access::Outcome::Ok),
        };
        query::seen(&self.state, seen).await.map_err(status)?;
        let (schema, batches, _) = answer.map_err(status)?;
        Ok(batches_stream(schema, futures::stream::iter(batches.into_iter().map(Ok))))
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.admit(&request)?;
        let schema = query.into_builder().schema();
        info_for(&query, &schema, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.admit(&request)?;
        let mut builder = query.into_builder();
        builder.append(CATALOG);
        Ok(one_batch(builder.schema(), builder.build()))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.admit(&request)?;
        let schema = query.clone().into_builder().schema();
        info_for(&query, &schema, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.admit(&request)?;
        let mut builder = query.into_builder();
        builder.append(CATALOG, SCHEMA);
        Ok(one_batch(builder.schema(), builder.build()))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.admit(&request)?;
        let schema = query.clone().into_builder().schema();
        info_for(&query, &schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let (view, _) = self.admit(&request)?;
        let ctx = view.warehouse.context();
        let mut names: Vec<String> =
            ctx.catalog(CATALOG).and_then(|c| c.schema(SCHEMA)).map(|s| s.table_names()).unwrap_or_default();
        names.sort();
        let mut builder = query.into_builder();
        for name in names {
            let table = ctx.table(name.as_str()).await.map_err(|e| Status::internal(e.to_string()))?;
            let kind = if name == "data_freshness" { "VIEW" } else { "TABLE" };
            builder
                .append(CATALOG, SCHEMA, &name, kind, table.schema().as_arrow())
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        Ok(one_batch(builder.schema(), builder.build()))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.admit(&request)?;
        let schema = query.clone().into_builder(&self.info).schema();
        info_for(&query, schema.as_ref(), request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.admit(&request)?;
        let builder = query.into_builder(&self.info);
        Ok(one_batch(builder.schema(), builder.build()))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Serves Flight SQL on `listener` until `shutdown` completes: at most `max_connections` at once
/// (more are closed at once), each HTTP/2 connection pinged and dropped when it stops answering.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let options = state.options.clone();
    let permits = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).filter_map(move |accepted| {
        let permits = permits.clone();
        async move {
            match accepted {
                Ok(io) => {
                    permits.try_acquire_owned().ok().map(|permit| Ok::<_, std::io::Error>(Held { io, _permit: permit }))
                }
                Err(e) => Some(Err(e)),
            }
        }
    });
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(options.header_read_timeout))
        .http2_keepalive_timeout(Some(options.header_read_timeout))
        .add_service(FlightSql::new(state).service())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// A connection holding its place under the cap until it closes.
struct Held {
    io: tokio::net::TcpStream,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl tonic::transport::server::Connected for Held {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl tokio::io::AsyncRead for Held {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Held {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
