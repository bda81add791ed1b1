//! What can go wrong in a query or a build.

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The statement would change something or reach outside the tables (HTTP 422).
    #[error("read-only: {0}")]
    ReadOnly(String),
    /// The SQL does not plan or run (HTTP 422).
    #[error("{0}")]
    Sql(String),
    #[error("lake: {0}")]
    Lake(String),
    /// Disclosure control could not protect the publication, or found it exposed: nothing is
    /// committed.
    #[error("{0}")]
    Disclosure(String),
}

/// A DataFusion or Arrow error as [`QueryError::Sql`].
pub fn sql_error(e: impl std::fmt::Display) -> QueryError {
    QueryError::Sql(e.to_string())
}
