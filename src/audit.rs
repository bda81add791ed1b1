//! `lms audit disclosure`: the protection check of a publication (lms_queries::audit), on the
//! warehouse host. Exit 1 when any hidden count is exposed.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::config::Config;
use crate::setup::runtime;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Per hidden count of a publication, the interval an attacker can work out from what is served
    /// and the relations that bound it; exit 1 when any is narrower than min_count.
    Disclosure {
        /// The lake version whose publication to audit (default: the newest).
        #[arg(long)]
        version: Option<u64>,
        #[arg(long, value_enum, default_value = "text")]
        format: AuditFormat,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AuditFormat {
    Text,
    Json,
}

pub fn run(config: &Config, command: &AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Disclosure { version, format } = command;
    let lake = lms_lake::Lake::open(&config.lake.url)?;
    let audit = runtime().block_on(async {
        let snapshot = match version {
            Some(v) => lake.snapshot_at(*v).await?,
            None => lake.snapshot().await?,
        };
        let min_count = lms_queries::audit::min_count_of(&snapshot, i64::from(config.suppression.min_count));
        anyhow::Ok(lms_queries::audit::audit(&lake, &snapshot, min_count).await?)
    })?;
    match format {
        AuditFormat::Json => println!("{}", serde_json::to_string_pretty(&audit)?),
        AuditFormat::Text => {
            let bound = |v: Option<f64>, infinite: &str| v.map_or(infinite.to_string(), |v| format!("{v:.2}"));
            for c in &audit.counts {
                println!(
                    "{}  [{}, {}]  {} of {} ({})",
                    if c.exposed { "EXPOSED  " } else { "protected" },
                    bound(c.low, "-inf"),
                    bound(c.high, "inf"),
                    c.what,
                    c.cell,
                    c.reason.unwrap_or("disclosure")
                );
                if c.exposed {
                    for r in &c.relations {
                        println!("      {r}");
                    }
                }
            }
            println!(
                "version {} ({}): {} cells, {} hidden for disclosure, {} for coverage; {} hidden counts checked \
                 with min_count {} ({} linear programmes): {} exposed",
                audit.version,
                audit.digest.as_deref().unwrap_or("no digest"),
                audit.cells,
                audit.hidden_for_disclosure,
                audit.hidden_for_coverage,
                audit.counts.len(),
                audit.min_count,
                audit.programmes,
                audit.exposed
            );
        }
    }
    Ok(if audit.exposed > 0 { ExitCode::from(crate::setup::EXIT_FAILURE) } else { ExitCode::SUCCESS })
}
