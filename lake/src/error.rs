//! What can go wrong reading or writing the lake.

/// What can go wrong reading or writing the lake. The messages name the object or version.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The object store failed (network, permissions, a missing object).
    #[error("{0}")]
    Store(String),
    /// The log is not a valid sequence of commits.
    #[error("{0}")]
    Log(String),
    #[error("{0}")]
    Parquet(String),
    /// A lake URL or store setting that cannot be used.
    #[error("{0}")]
    Config(String),
    /// Building the published tables failed (the pass commits nothing).
    #[error("{0}")]
    Publish(String),
    /// Other writers kept committing first.
    #[error("{0}")]
    Conflict(String),
    /// A writer's pseudonymisation key is not the lake's.
    #[error("{0}")]
    Key(String),
}

impl LakeError {
    pub fn store(e: impl std::fmt::Display) -> LakeError {
        LakeError::Store(e.to_string())
    }

    pub fn parquet(e: impl std::fmt::Display) -> LakeError {
        LakeError::Parquet(e.to_string())
    }
}
