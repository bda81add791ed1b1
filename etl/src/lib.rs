//! LMS Monitor's ETL: pulls the regions' deliveries from their sources (file, S3, HTTPS), checks
//! every row against the contract, pseudonymises identity numbers, quarantines what it rejects and
//! commits the rest to a partitioned Parquet lake atomically (`lms_lake`), on a schedule ([`schedule`]).
//!
//! Data flows one way: [`source`] → `lms_schemas` checks → [`batch`] → `lms_lake`.

pub mod batch;
mod error;
pub mod load;
pub mod rekey;
pub mod run;
pub mod schedule;
pub mod source;

/// The lake this crate writes (its own crate, which the readers use without the ETL).
pub use lms_lake as lake;
pub use lms_lake::{Lake, Publication, Publish, RunRecord, Snapshot, TABLES, new_run_id};
pub use run::{Backfill, Etl, EtlOptions, RunReport};
pub use source::Source;

pub use error::EtlError;
