//! What the commands share: the runtime, the key, the sources, the ETL and its publisher.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use lms_etl::{Etl, EtlOptions, Source};
use lms_lake::Lake;
use lms_queries::IndicatorPublisher;
use lms_queries::publish::BuildOptions;
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Reference, Rhf};

use crate::config::Config;

/// Exit codes of interfaces.md.
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// The four regions' file sources under `dir` (`dir/HSO`, …), each taking all three extracts.
pub fn incoming_sources(dir: &Path) -> anyhow::Result<Vec<Source>> {
    let dir = dir.canonicalize().with_context(|| format!("--incoming {}", dir.display()))?;
    Rhf::ALL
        .iter()
        .map(|rhf| {
            let url = format!("file://{}", dir.join(rhf.code()).display());
            Ok(Source::new(&rhf.code().to_lowercase(), *rhf, None, &url)?)
        })
        .collect()
}

/// The sources of the configuration.
pub fn config_sources(config: &Config) -> anyhow::Result<Vec<Source>> {
    config
        .sources
        .iter()
        .map(|s| {
            let rhf: Rhf = s.rhf.parse().map_err(anyhow::Error::msg)?;
            let extract = s.extract.as_deref().map(str::parse).transpose().map_err(anyhow::Error::msg)?;
            Ok(Source::new(&s.name, rhf, extract, &s.url)?)
        })
        .collect()
}

/// The pseudonymisation key: `LMS_PSEUDONYM_KEY`, else the configured or `LMS_PSEUDONYM_KEY_FILE` file.
pub fn key(config: &Config) -> anyhow::Result<PseudonymKey> {
    if std::env::var_os("LMS_PSEUDONYM_KEY").is_some() {
        return Ok(PseudonymKey::from_env()?);
    }
    match &config.pseudonym.key_file {
        Some(path) => Ok(PseudonymKey::from_file(Path::new(path))?),
        None => Err(lms_schemas::identity::KeyError::Missing.into()),
    }
}

/// The ETL of the configuration; every commit carries the published indicator tables built from it.
pub fn etl(config: &Config, key: PseudonymKey) -> anyhow::Result<Etl> {
    Ok(Etl {
        lake: Lake::open(&config.lake.url)?,
        reference: Arc::new(Reference::embedded()?),
        key,
        options: EtlOptions {
            progress: true,
            keep_snapshots: config.retention.keep_snapshots(),
            ..EtlOptions::default()
        },
        publisher: Some(Arc::new(publisher(config, false))),
    })
}

/// The publisher of the configuration, rebuilding every year where `full`.
pub fn publisher(config: &Config, full: bool) -> IndicatorPublisher {
    let options = BuildOptions {
        min_count: i64::from(config.suppression.min_count),
        memory_limit: config.publish.memory_limit(),
        targets: config.targets.clone(),
        ..BuildOptions::default()
    };
    IndicatorPublisher { full, ..IndicatorPublisher::new(options) }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

pub fn usage(e: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("error: {e}");
    Ok(ExitCode::from(EXIT_USAGE))
}
