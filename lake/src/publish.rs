//! Tables derived from the lake's data, committed with the data they come from.

use crate::error::LakeError;
use crate::{DataFile, Lake, Snapshot};

/// Builds tables derived from the lake's data (the published indicator tables) so that they are
/// part of the same commit as the data they come from: readers never see data and indicators of
/// different versions.
#[async_trait::async_trait]
pub trait Publish: Send + Sync + std::fmt::Debug {
    /// The tables this publisher owns: a commit that adds new files for them removes the old ones.
    fn tables(&self) -> &[&str];

    /// Writes the tables for the lake as it will be at `next` (its data files are written, its
    /// commit not yet) under fresh names, and returns them; nothing is visible until the commit.
    async fn publish(&self, lake: &Lake, next: &Snapshot, run_id: &str) -> Result<Publication, LakeError>;

    /// Identifies the definitions the tables are built from (indicator files, thresholds); recorded
    /// in the commit, so a pass with nothing new rebuilds tables built by other definitions.
    fn fingerprint(&self) -> String;
}

/// The published tables one [`Publish::publish`] wrote.
#[derive(Clone, Debug)]
pub struct Publication {
    pub files: Vec<DataFile>,
    /// Identifies the tables' content (not their files): recorded in the commit, shown by
    /// `lms status` and the API, and the server's entity tag.
    pub digest: String,
}
