//! `lms audit disclosure`: the protection check of a publication (lms_queries::audit), on the
//! warehouse host; exit 1 when any hidden count is exposed. `lms audit log` and `lms audit verify`:
//! the access log (lms_lake::access) and the check of its hash chain; exit 1 at a broken link.

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
    /// The access log: who read what, when, over which channel (oldest first).
    Log {
        /// Only reads at or after this time (RFC 3339, or a date: 2026-12-01).
        #[arg(long)]
        since: Option<String>,
        /// Only reads with this token name.
        #[arg(long)]
        token: Option<String>,
        /// `json`: the lines as written (JSON Lines).
        #[arg(long, value_enum, default_value = "text")]
        format: AuditFormat,
    },
    /// Checks the access log's hash chain from its start (or retention's cut) to its end; exit 1 at
    /// the first broken link, naming it.
    Verify,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AuditFormat {
    Text,
    Json,
}

pub fn run(config: &Config, command: &AuditCommand) -> anyhow::Result<ExitCode> {
    let (version, format) = match command {
        AuditCommand::Disclosure { version, format } => (version, format),
        AuditCommand::Log { since, token, format } => return log(config, since.as_deref(), token.as_deref(), *format),
        AuditCommand::Verify => return verify(config),
    };
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

/// `since` as a time: RFC 3339, or a date (its midnight, UTC).
fn since_time(since: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(since) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(since, "%Y-%m-%d").map_err(|_| {
        anyhow::anyhow!("--since {since}: expected RFC 3339 (2026-12-01T08:00:00Z) or a date (2026-12-01)")
    })?;
    Ok(day.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
}

fn log(config: &Config, since: Option<&str>, token: Option<&str>, format: AuditFormat) -> anyhow::Result<ExitCode> {
    let since = since.map(since_time).transpose()?;
    let lake = lms_lake::Lake::open(&config.lake.url)?;
    let lines = runtime().block_on(lms_lake::access::lines(&lake))?;
    let kept = lines
        .into_iter()
        .filter(|l| token.is_none_or(|t| l.read.token.as_deref() == Some(t)))
        .filter(|l| since.is_none_or(|s| chrono::DateTime::parse_from_rfc3339(&l.time).is_ok_and(|t| t >= s)));
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for l in kept {
        match format {
            AuditFormat::Json => writeln!(out, "{}", serde_json::to_string(&l)?)?,
            AuditFormat::Text => {
                let r = &l.read;
                writeln!(
                    out,
                    "{:>8}  {}  {:<8} {:<14} {:<10} {:<22} {:<8} {:>7} rows  [{}]  {}",
                    l.seq,
                    l.time,
                    r.channel,
                    r.token.as_deref().unwrap_or("-"),
                    r.role.as_deref().unwrap_or("-"),
                    r.client.as_deref().unwrap_or("-"),
                    serde_json::to_value(r.outcome)?.as_str().unwrap_or_default(),
                    r.rows,
                    r.tables.join(","),
                    r.what.replace('\n', " ")
                )?
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(config: &Config) -> anyhow::Result<ExitCode> {
    let lake = lms_lake::Lake::open(&config.lake.url)?;
    let v = runtime().block_on(lms_lake::access::verify(&lake))?;
    if let Some(b) = &v.broken {
        println!("BROKEN at {b}");
        println!("({} lines from seq {} checked before it)", v.lines, v.from_seq);
        return Ok(ExitCode::from(crate::setup::EXIT_FAILURE));
    }
    match &v.head {
        Some((seq, hash)) => println!(
            "ok: {} lines in {} objects, seq {} to {seq}; head sha256 {hash} (keep it elsewhere: a cut-off end shows against it)",
            v.lines, v.objects, v.from_seq
        ),
        None => println!("ok: the access log is empty"),
    }
    Ok(ExitCode::SUCCESS)
}
