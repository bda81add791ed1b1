//! What can go wrong in a pass.

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
            L::Conflict(m) => EtlError::Conflict(m),
            L::Key(m) => EtlError::Config(m),
        }
    }
}
