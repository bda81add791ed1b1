//! The indicators as the lake's publish hook: built into every commit.

use std::collections::BTreeSet;

use lms_lake::{DataFile, Lake, LakeError, Publication, Snapshot};

use super::build::build;
use super::options::BuildOptions;
use super::sql::{PRELUDE, STANDARDISE, VARIATION};
use crate::catalogue;
use crate::incremental;
use crate::tables::{DISCLOSURE, WRITTEN, disclosure_schema, published_schemas};

/// Which disclosure control built a publication (in the publisher's fingerprint: a publication of
/// another is built again, not reused).
pub const DISCLOSURE_CONTROL: &str = "protection-check-1";

/// Builds the published tables into every commit (the lake's publish hook).
#[derive(Clone, Debug)]
pub struct IndicatorPublisher {
    /// How each publication is built; `reuse` is decided per commit.
    pub options: BuildOptions,
    /// Rebuild every year (`lms etl publish --full`); else a commit rebuilds the years its data
    /// touches where the tables it replaces were built by the same definitions (`crate::incremental`).
    pub full: bool,
}

impl IndicatorPublisher {
    pub fn new(options: BuildOptions) -> IndicatorPublisher {
        IndicatorPublisher { options, full: false }
    }
}

#[async_trait::async_trait]
impl lms_lake::Publish for IndicatorPublisher {
    fn tables(&self) -> &[&str] {
        &WRITTEN
    }

    fn fingerprint(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for text in [PRELUDE, STANDARDISE, VARIATION] {
            h.update(text.as_bytes());
        }
        for i in catalogue::embedded() {
            h.update(i.file.as_bytes());
            h.update(i.sql.as_bytes());
        }
        let options = &self.options;
        h.update(options.min_count.to_le_bytes());
        h.update(options.min_coverage.to_le_bytes());
        h.update(DISCLOSURE_CONTROL.as_bytes());
        // Targets are part of what is published (`target` on the cells).
        h.update(serde_json::to_string(&options.targets).unwrap_or_default().as_bytes());
        format!(
            "min_count={};min_coverage={};sql={};reference={}",
            options.min_count,
            options.min_coverage,
            hex::encode(&h.finalize()[..8]),
            reference_version()
        )
    }

    async fn publish(&self, lake: &Lake, next: &Snapshot, run_id: &str) -> Result<Publication, LakeError> {
        // The tables in `next` are those of the commit before: reusable if built by these
        // definitions (min_count, SQL and reference data are all in the fingerprint).
        let reuse = !self.full && next.published.as_deref() == Some(self.fingerprint().as_str());
        let built = build(lake, next, &BuildOptions { reuse, ..self.options.clone() })
            .await
            .map_err(|e| LakeError::Publish(e.to_string()))?;
        let years = |years: &Option<BTreeSet<i32>>| match years {
            Some(years) if years.is_empty() => "none".to_string(),
            Some(years) => years.iter().map(i32::to_string).collect::<Vec<_>>().join(","),
            None => "all".into(),
        };
        tracing::info!(
            version = next.version,
            rebuilt_years = %years(&built.rebuilt),
            evaluation_years = %years(&built.evaluation_years),
            cells = built.cells.len(),
            hidden = built.suppression.disclosure(),
            primary = built.suppression.primary,
            secondary = built.suppression.secondary,
            checked = built.suppression.checked,
            digest = %built.digest,
            "indicators built"
        );
        let mut files = Vec::new();
        let written = published_schemas().into_iter().chain([(DISCLOSURE, disclosure_schema())]);
        for ((table, schema), batches) in written.zip([
            &built.indicator_values,
            &built.variation,
            &built.data_quality,
            &built.funnel,
            &built.trend,
            &built.disclosure,
        ]) {
            let path = format!("published/{table}/v{:06}-{run_id}.parquet", next.version);
            // The basis rides with data_quality, which is outside the digest (the figures' files
            // stay the bytes a full build writes).
            let basis = match (&built.basis, table) {
                (Some(b), "data_quality") => {
                    Some(serde_json::to_string(b).map_err(|e| LakeError::Publish(e.to_string()))?)
                }
                _ => None,
            };
            let metadata: Vec<(&str, &str)> = basis.iter().map(|b| (incremental::BASIS_KEY, b.as_str())).collect();
            match lms_lake::write::write_file(lake, table, &path, schema, batches, &metadata).await {
                Ok(f) => files.push(f),
                Err(e) => {
                    let written: Vec<String> = files.iter().map(|f: &DataFile| f.path.clone()).collect();
                    lake.delete_uncommitted(&written).await;
                    return Err(e);
                }
            }
        }
        Ok(Publication { files, digest: built.digest })
    }
}

/// The version of the embedded reference data (regions, trusts, areas, population, ICD-10 groups,
/// the municipality code history): [`reference_version_of`] their CSV texts. Part of the
/// publisher's fingerprint, so new reference data republishes.
pub fn reference_version() -> String {
    reference_version_of(&lms_schemas::reference::TABLES)
}

/// The first 8 bytes, in hex, of the SHA-256 of (name, CSV text) pairs, each length-prefixed so
/// that no two different sets of tables hash alike by moving text from one to the next.
pub fn reference_version_of(tables: &[(&str, &str)]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for (name, csv) in tables {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((csv.len() as u64).to_le_bytes());
        h.update(csv.as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}
