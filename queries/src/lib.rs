//! The lake as SQL tables: each table is the set of Parquet files the lake's current version lists
//! (never a directory listing, so a half-written run stays invisible), plus the reference data, run
//! history and delivery state. SQL through [`Warehouse::sql`] is read-only: DDL, DML and other
//! statements are refused, and no file outside the registered tables can be named.
//!
//! The national indicators are built here ([`publish`]) from `.sql` files ([`catalogue`]), with
//! disclosure control ([`suppress`]), into the published tables every session can read.

pub mod audit;
pub mod batch;
pub mod catalogue;
pub mod cell;
pub mod compare;
pub mod error;
pub mod format;
pub mod funnel;
pub mod incremental;
pub mod interval;
mod keep;
mod pool;
pub mod protect;
pub mod publish;
pub mod relations;
pub mod suppress;
pub mod tables;
pub mod target;
pub mod trend;
pub mod warehouse;

pub use catalogue::{Indicator, Level};
pub use error::QueryError;
pub use publish::IndicatorPublisher;
pub use tables::PUBLISHED;
pub use warehouse::{Access, PERSON_LEVEL, PUBLISHED_MEMORY_LIMIT, Warehouse, tables_read};
