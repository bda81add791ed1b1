//! `lms query`: read-only SQL over the warehouse, on its host.

use std::process::ExitCode;

use clap::ValueEnum;

use crate::config::Config;
use crate::setup::EXIT_USAGE;
use crate::setup::runtime;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum QueryFormat {
    Table,
    Csv,
    Json,
}

pub fn run(config: &Config, sql: &str, format: QueryFormat) -> anyhow::Result<ExitCode> {
    use lms_queries::{Access, QueryError, Warehouse, format as fmt};
    let result = runtime().block_on(async {
        // The CLI runs on the warehouse host: it sees the person-level tables too.
        let lake = lms_lake::Lake::open(&config.lake.url).map_err(|e| QueryError::Lake(e.to_string()))?;
        let w = Warehouse::open(&lake, Access::Warehouse).await?;
        w.sql(sql).await
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
