//! LMS Monitor's ETL: pulls the regions' deliveries from their sources (file, S3, HTTPS), checks
//! every row against the contract, pseudonymises identity numbers, quarantines what it rejects and
//! commits the rest to a partitioned Parquet lake atomically ([`lake`]), on a schedule ([`schedule`]).
//!
//! Data flows one way: [`source`] → `lms_schemas` checks → [`batch`] → [`lake`].

pub mod batch;
pub mod lake;
pub mod load;
pub mod run;
pub mod schedule;
pub mod source;
pub mod store;

pub use lake::{Lake, RunRecord, Snapshot};
pub use run::{Backfill, Etl, EtlOptions, Publication, Publish, RunReport};
pub use source::Source;

/// The lake's data tables (each a directory of Parquet files under the lake root).
pub const TABLES: [&str; 4] = ["activity", "coding", "evaluation", "quarantine"];

#[derive(Debug, thiserror::Error)]
pub enum EtlError {
    #[error("source {source_name}: {message}")]
    Source { source_name: String, message: String },
    #[error("lake: {0}")]
    Lake(String),
    #[error("writing Parquet: {0}")]
    Parquet(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("commit: {0}")]
    Conflict(String),
    /// Building the published tables failed (the pass commits nothing).
    #[error("publishing: {0}")]
    Publish(String),
    #[error("{0}")]
    Internal(String),
}

impl EtlError {
    pub fn lake(e: impl std::fmt::Display) -> EtlError {
        EtlError::Lake(e.to_string())
    }

    pub fn parquet(e: impl std::fmt::Display) -> EtlError {
        EtlError::Parquet(e.to_string())
    }
}

/// Opens the lake at a `file://` or `s3://` URL.
pub fn open_lake(url: &str) -> Result<Lake, EtlError> {
    let (store, root) = store::open(url)?;
    Ok(Lake::new(store, root))
}
