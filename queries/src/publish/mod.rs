//! Builds the published tables — `indicator_values`, `variation`, `data_quality` — for one version
//! of the lake, and writes them into that version's commit ([`IndicatorPublisher`], the ETL's
//! [`lms_lake::Publish`]). Disclosure control is applied here, before anything is written, so no
//! reader of the published tables can bypass it.
//!
//! Steps: the shared views of `sql/prelude.sql` (materialised once), every indicator file of the
//! catalogue (standardised ones through `sql/standardise.sql`), suppression over all cells together,
//! then `sql/variation.sql` over the suppressed cells, and the data-quality counts.
//!
//! The folder by concern: [`options`] (how a build runs), [`build`] (the steps in order),
//! [`compute`] (one indicator's cells), [`quality`] (`data_quality` and coverage), [`rows`] (cells as
//! table rows), [`digest`] (what identifies a publication's figures), [`publisher`] (the lake's
//! publish hook). The tables' names and schemas are `crate::tables`.

pub mod build;
pub mod compute;
pub mod digest;
pub mod options;
pub mod publisher;
pub mod quality;
mod rows;
pub mod sql;

pub use build::{Published, build, build_within};
pub use compute::{cells_query, cells_query_with, pooled_strata_query, standardised_cells_query, windows};
pub use digest::{DIGESTED, content_digest};
pub use options::{BUILD_MEMORY_LIMIT, BuildOptions, BuildSession, MIN_COVERAGE, configure};
pub use publisher::{DISCLOSURE_CONTROL, IndicatorPublisher, reference_version, reference_version_of};
pub use quality::{Coverage, coverage, coverage_of};
