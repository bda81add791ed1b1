//! `lms lake vacuum`: retention on the warehouse host (lms_lake::vacuum). Lists what
//! `[retention]` lets go; `--apply` lets it go.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::setup::runtime;

#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Lists the files no snapshot inside `[retention] snapshots_days` reads, the person-level
    /// files past `person_level_years` and the access log's objects past `audit_days`; with
    /// `--apply`, the person-level files leave by a new commit and the rest are deleted.
    Vacuum {
        #[arg(long)]
        apply: bool,
    },
}

pub fn run(config: &Config, command: &LakeCommand) -> anyhow::Result<ExitCode> {
    let LakeCommand::Vacuum { apply } = command;
    let lake = lms_lake::Lake::open(&config.lake.url)?;
    let retention = config.retention.retention();
    let now = chrono::Utc::now();
    let v = runtime().block_on(lms_lake::vacuum::vacuum(&lake, &retention, now, *apply))?;
    let r = &config.retention;
    let rows = match r.person_level_years {
        Some(y) => format!("person-level rows from {}", lms_lake::vacuum::first_period_kept(y, now)),
        None => "every person-level row".to_string(),
    };
    println!(
        "lake version {}: keeping every snapshot of the last {} days, {rows}, the access log's last {} days",
        v.version, r.snapshots_days, r.audit_days
    );
    println!("person-level files past their years (leave by a commit): {}", v.expired.len());
    for p in &v.expired {
        println!("  {p}");
    }
    let bytes: u64 = v.garbage.iter().map(|g| g.bytes).sum();
    println!("files no kept snapshot reads: {} ({bytes} bytes)", v.garbage.len());
    for g in &v.garbage {
        match g.removed_at {
            Some(at) => println!("  {}  (removed {})", g.path, at.to_rfc3339()),
            None => println!("  {}  (never committed)", g.path),
        }
    }
    println!("access-log objects past {} days: {}", r.audit_days, v.audit.objects.len());
    for p in &v.audit.objects {
        println!("  {p}");
    }
    if v.applied {
        if let Some(version) = v.committed {
            println!("committed version {version}: the person-level files above left the lake");
        }
        println!(
            "deleted {} files and {} access-log objects",
            v.garbage.len(),
            if v.audit.deleted { v.audit.objects.len() } else { 0 }
        );
    } else {
        println!("nothing deleted (--apply to delete)");
    }
    Ok(ExitCode::SUCCESS)
}
