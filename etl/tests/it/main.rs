//! Integration tests of the ETL: the demo deliveries into a lake, commits under faults and
//! concurrency, identity numbers kept out, S3 and HTTP sources, the scheduler.

mod common;
mod faults;
mod ingest;
mod remote;
mod schedule;
