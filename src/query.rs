//! `lms query`: read-only SQL over the warehouse, on its host.

use std::process::ExitCode;

use clap::ValueEnum;
use lms_lake::access::Read;

use crate::config::Config;
use crate::setup::EXIT_USAGE;
use crate::setup::runtime;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum QueryFormat {
    Table,
    Csv,
    Json,
}

pub fn run(config: &Config, sql: &str, format: QueryFormat, version: Option<u64>) -> anyhow::Result<ExitCode> {
    use lms_queries::{Access, QueryError, Warehouse, format as fmt};
    let result = runtime().block_on(async {
        // The CLI runs on the warehouse host: it sees the person-level tables too.
        let lake = lms_lake::Lake::open(&config.lake.url).map_err(|e| QueryError::Lake(e.to_string()))?;
        let w = match version {
            // A kept snapshot (`[retention] snapshots_days`), as it was.
            Some(v) => {
                let snapshot = lake.snapshot_at(v).await.map_err(|e| QueryError::Lake(e.to_string()))?;
                Warehouse::at(&lake, &snapshot, Access::Warehouse).await?
            }
            None => Warehouse::open(&lake, Access::Warehouse).await?,
        };
        let answer = w.sql(sql).await;
        // Logged before anything is printed; when the line cannot be written nothing is.
        lms_lake::access::AccessLog::new(&lake)
            .record(read(sql, answer.as_ref().map(|b| b.iter().map(|b| b.num_rows() as u64).sum())))
            .await
            .map_err(|e| QueryError::Lake(format!("the read could not be written to the access log: {e}")))?;
        answer
    });
    let batches = match result {
        Ok(b) => b,
        Err(e @ (QueryError::ReadOnly(_) | QueryError::Sql(_))) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(e) => return Err(e.into()),
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match format {
        QueryFormat::Table => writeln!(out, "{}", fmt::table(&batches))?,
        QueryFormat::Csv => out.write_all(&fmt::csv(&batches))?,
        QueryFormat::Json => {
            out.write_all(&fmt::json(&batches))?;
            writeln!(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The access-log line of a query on the host: no token (the host's own user instead, as
/// `os:NAME`), the warehouse role, channel `cli`.
fn read(sql: &str, answer: Result<u64, &lms_queries::QueryError>) -> Read {
    use lms_lake::access::Outcome;
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok();
    let (rows, outcome) = match answer {
        Ok(rows) => (rows, Outcome::Ok),
        Err(lms_queries::QueryError::ReadOnly(_)) => (0, Outcome::Refused),
        Err(_) => (0, Outcome::Error),
    };
    Read {
        token: user.map(|u| format!("os:{u}")),
        role: Some("warehouse".into()),
        channel: "cli".into(),
        client: Some("local".into()),
        what: sql.to_string(),
        tables: lms_queries::tables_read(sql),
        rows,
        outcome,
    }
}
