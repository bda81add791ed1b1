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

    fn admit<T>(&self, request: &Request<T>) -> Result<Arc<crate::state::View>, Status> {
        let header = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        self.state.options.tokens.require(header, Role::Analyst).map_err(status)?;
        self.state.ready().map_err(status)
    }
}

fn status(e: ApiError) -> Status {
    match e {
        ApiError::Unauthorized => Status::unauthenticated(e.to_string()),
        ApiError::Forbidden(_) => Status::permission_denied(e.to_string()),
        ApiError::InvalidSql(_) | ApiError::BadRequest(_) => Status::invalid_argument(e.to_string()),
        ApiError::NotReady | ApiError::Timeout(_) => Status::unavailable(e.to_string()),
        other => Status::internal(other.to_string()),
    }
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
        let view = self.admit(&request)?;
        let df = view.warehouse.plan(&query.query).await.map_err(|e| status(ApiError::InvalidSql(e.to_string())))?;
        let schema = df.schema().as_arrow().clone();
        let ticket = TicketStatementQuery { statement_handle: query.query.into_bytes().into() };
        info_for(&ticket, &schema, request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let view = self.admit(&request)?;
        let sql = String::from_utf8(ticket.statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("the ticket is not a statement"))?;
        let limit = self.state.options.sql_row_limit;
        let invalid = |e: &dyn std::fmt::Display| status(ApiError::InvalidSql(e.to_string()));
        let df = view.warehouse.plan(&sql).await.map_err(|e| invalid(&e))?;
        let df = df.limit(0, Some(limit)).map_err(|e| invalid(&e))?;
        let stream = df.execute_stream().await.map_err(|e| invalid(&e))?;
        let schema = stream.schema();
        let deadline = tokio::time::Instant::now() + self.state.options.sql_timeout;
        let batches = stream.map(move |b| {
            if tokio::time::Instant::now() > deadline {
                return Err(FlightError::ExternalError("the query passed its deadline".into()));
            }
            b.map_err(|e| FlightError::ExternalError(Box::new(e)))
        });
        Ok(batches_stream(schema, batches))
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
        let view = self.admit(&request)?;
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

/// Serves Flight SQL on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(FlightSql::new(state).service())
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), shutdown)
        .await
}
