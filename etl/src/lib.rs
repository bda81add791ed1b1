//! LMS Monitor's ETL: pulls the regions' deliveries from their sources (file, S3, HTTPS), checks
//! every row against the contract, pseudonymises identity numbers, quarantines what it rejects and
//! commits the rest to a partitioned Parquet lake atomically (`lms_lake`), on a schedule ([`schedule`]).
//!
//! Data flows one way: [`source`] → `lms_schemas` checks → [`batch`] → `lms_lake`.

pub mod batch;
pub mod load;
pub mod run;
pub mod schedule;
pub mod source;

/// The lake this crate writes (its own crate, which the readers use without the ETL).
pub use lms_lake as lake;
pub use lms_lake::{Lake, Publication, Publish, RunRecord, Snapshot, TABLES, open as open_lake};
pub use run::{Backfill, Etl, EtlOptions, RunReport};
pub use source::Source;

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

impl From<lms_lake::LakeError> for EtlError {
    fn from(e: lms_lake::LakeError) -> EtlError {
        use lms_lake::LakeError as L;
        match e {
            L::Store(m) | L::Log(m) => EtlError::Lake(m),
            L::Parquet(m) => EtlError::Parquet(m),
            L::Config(m) => EtlError::Config(m),
            L::Publish(m) => EtlError::Publish(m),
        }
    }
}
