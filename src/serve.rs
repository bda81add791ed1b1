//! `lms serve` and the serving end of `lms demo`: the HTTP server over the lake's published tables,
//! with the ETL schedule of the configured sources running beside it.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use lms_server::{AppState, ServerOptions, Token, Tokens};

use crate::config::Config;
use crate::setup::{config_sources, etl, key, runtime, usage};

/// The tokens of the configuration.
fn tokens(config: &Config) -> Result<Tokens, String> {
    config.tokens.iter().map(|t| Token::new(&t.name, &t.role, &t.sha256)).collect::<Result<Vec<_>, _>>().map(Tokens)
}

/// Where to listen: with no tokens configured (as in `lms demo`), only on loopback.
pub fn listen_address(listen: &str, tokens: &Tokens) -> Result<SocketAddr, String> {
    let mut addr: SocketAddr =
        listen.parse().map_err(|_| format!("listen address `{listen}`: expected IP:PORT, e.g. 127.0.0.1:8080"))?;
    if tokens.is_empty() && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "no [[token]] configured: binding to loopback only");
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Ok(addr)
}

pub fn serve(config: &Config, schedule: bool) -> anyhow::Result<ExitCode> {
    let tokens = match tokens(config) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let addr = match listen_address(&config.server.listen, &tokens) {
        Ok(a) => a,
        Err(e) => return usage(e),
    };
    let flight = match listen_address(&config.server.flight_listen, &tokens) {
        Ok(a) => a,
        Err(e) => return usage(e),
    };
    let postgres = match &config.postgres.listen {
        Some(listen) => {
            let addr = match listen_address(listen, &tokens) {
                Ok(a) => a,
                Err(e) => return usage(format!("[postgres] {e}")),
            };
            let tls = match (&config.postgres.tls_cert, &config.postgres.tls_key) {
                (Some(cert), Some(key)) => {
                    match lms_server::postgres::tls(std::path::Path::new(cert), std::path::Path::new(key)) {
                        Ok(t) => Some(t),
                        Err(e) => return usage(e),
                    }
                }
                _ => None,
            };
            Some(Postgres { addr, tls })
        }
        None => None,
    };
    let mut scheduled = None;
    if schedule {
        let sources = config_sources(config)?;
        if sources.is_empty() {
            return usage("no [[source]] in the configuration: nothing to schedule (use --no-schedule to serve only)");
        }
        let key = match key(config) {
            Ok(k) => k,
            Err(e) => return usage(e),
        };
        let mut etl = etl(config, key)?;
        etl.options.progress = false;
        let jobs = config
            .sources
            .iter()
            .zip(sources)
            .map(|(c, s)| lms_etl::schedule::Scheduled::new(s, &c.schedule))
            .collect::<Result<Vec<_>, _>>();
        match jobs {
            Ok(j) => scheduled = Some((etl, j)),
            Err(e) => return usage(e),
        }
    }
    let mut options = ServerOptions::new(&config.lake.url);
    options.tokens = tokens;
    options.sql_row_limit = config.server.sql_row_limit;
    options.max_connections = config.server.max_connections;
    options.header_read_timeout = std::time::Duration::from_secs(config.server.header_read_timeout_secs.max(1));
    options.max_statement_bytes = config.server.max_statement_bytes;
    options.access_log = config.server.access_log;
    if !options.access_log {
        tracing::warn!("the access log is off ([server] access_log = false): reads are not recorded");
    }
    runtime().block_on(run(options, addr, Some(flight), postgres, scheduled))?;
    Ok(ExitCode::SUCCESS)
}

/// Where to serve the PostgreSQL wire protocol, and with which certificate.
pub struct Postgres {
    pub addr: SocketAddr,
    pub tls: Option<lms_server::postgres::TlsAcceptor>,
}

/// Serves HTTP on `addr` (and Arrow Flight SQL on `flight`, PostgreSQL on `postgres`) until Ctrl-C
/// or SIGTERM; a running ETL pass is let finish first.
pub async fn run(
    options: ServerOptions,
    addr: SocketAddr,
    flight: Option<SocketAddr>,
    postgres: Option<Postgres>,
    scheduled: Option<(lms_etl::Etl, Vec<lms_etl::schedule::Scheduled>)>,
) -> anyhow::Result<()> {
    if options.tokens.is_empty() {
        // Once for the server, whichever of its listeners `listen_address` bound to loopback.
        eprintln!(
            "lms: no [[token]] configured, so the server listens on loopback only and every caller \
             has the analyst role"
        );
    }
    let state = Arc::new(AppState::new(options).map_err(|e| anyhow::anyhow!("{e}"))?);
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("listening on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = match scheduled {
        Some((etl, jobs)) => {
            tracing::info!(sources = jobs.len(), "running the ETL schedule");
            lms_etl::schedule::spawn(etl, jobs, lms_etl::schedule::RetryPolicy::default(), stopped.clone())
        }
        None => Vec::new(),
    };
    let flight_listener = match flight {
        Some(f) => Some(tokio::net::TcpListener::bind(f).await.map_err(|e| anyhow::anyhow!("listening on {f}: {e}"))?),
        None => None,
    };
    let postgres_listener = match postgres {
        Some(p) => Some((
            tokio::net::TcpListener::bind(p.addr).await.map_err(|e| anyhow::anyhow!("listening on {}: {e}", p.addr))?,
            p.tls,
        )),
        None => None,
    };
    // One line, so a reader of the first line has every address (and nothing more is printed).
    let mut also = Vec::new();
    if let Some(l) = &flight_listener {
        also.push(format!("Arrow Flight SQL on grpc://{}", l.local_addr()?));
    }
    if let Some((l, tls)) = &postgres_listener {
        let ssl = if tls.is_some() { "?sslmode=require" } else { "" };
        also.push(format!("PostgreSQL on postgresql://{}/lms{ssl}", l.local_addr()?));
    }
    let also = match also.len() {
        0 => String::new(),
        _ => format!(", {}", also.join(", ")),
    };
    println!("serving LMS Monitor on http://{bound}/{also} (Ctrl-C stops)");
    let flight_server = flight_listener.map(|listener| {
        let mut stopped_flight = stopped.clone();
        tokio::spawn(lms_server::flight::serve(listener, state.clone(), async move {
            let _ = stopped_flight.wait_for(|s| *s).await;
        }))
    });
    let postgres_server = postgres_listener.map(|(listener, tls)| {
        let mut stopped_postgres = stopped.clone();
        tokio::spawn(lms_server::postgres::serve(listener, state.clone(), tls, async move {
            let _ = stopped_postgres.wait_for(|s| *s).await;
        }))
    });
    let mut stopped_server = stopped.clone();
    let server = tokio::spawn(lms_server::serve(listener, state.clone(), async move {
        let _ = stopped_server.wait_for(|s| *s).await;
    }));
    shutdown_signal().await;
    tracing::info!("stopping: letting running requests and ETL passes finish");
    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
    server.await??;
    if let Some(f) = flight_server {
        f.await??;
    }
    if let Some(p) = postgres_server {
        p.await??;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
