//! `lms check`: one delivery against its contract, for data producers.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use lms_schemas::{Delivery, ExtractKind, FileRejection, FileSummary, Reference, Rhf, check_delivery};

use crate::setup::EXIT_USAGE;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// activity, coding or evaluation.
    #[arg(long)]
    extract: String,
    /// The delivering region: HSO, HV, HMN or HN (its dialect is used).
    #[arg(long)]
    rhf: String,
    /// text: one line per broken rule and a summary; json: one JSON object per line, then the summary.
    #[arg(long, value_enum, default_value = "text")]
    format: CheckFormat,
    file: PathBuf,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CheckFormat {
    Text,
    Json,
}

/// Checks one file, streaming it (twice); calls `report` for every row with violations.
pub fn check_path(
    path: &Path,
    kind: ExtractKind,
    rhf: Rhf,
    reference: &Reference,
    mut report: impl FnMut(&lms_schemas::Violation),
) -> Result<(Delivery, FileSummary), FileRejection> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    check_delivery(&name, kind, rhf, reference, || File::open(path), |row| row.violations.iter().for_each(&mut report))
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let usage = |e: String| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_USAGE)
    };
    let kind: ExtractKind = match args.extract.parse() {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    let rhf: Rhf = match args.rhf.parse() {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    if !args.file.is_file() {
        return usage(format!("{}: no such file", args.file.display()));
    }
    let reference = match Reference::embedded() {
        Ok(r) => r,
        Err(e) => return usage(e.to_string()),
    };
    let file = args.file.display().to_string();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let json = matches!(args.format, CheckFormat::Json);
    let result = check_path(&args.file, kind, rhf, &reference, |v| {
        let _ = if json {
            writeln!(out, "{}", serde_json::to_string(v).expect("violation serialises"))
        } else {
            writeln!(out, "{file}:{}", v.to_string().trim_start_matches("line ").replacen(", column ", ": ", 1))
        };
    });
    let code = match &result {
        Ok((_, s)) if s.rows_rejected == 0 => ExitCode::SUCCESS,
        _ => ExitCode::from(crate::setup::EXIT_FAILURE),
    };
    let _ = match result {
        Ok((_, summary)) if json => writeln!(out, "{}", serde_json::json!({ "file": file, "summary": summary })),
        Err(rejection) if json => writeln!(
            out,
            "{}",
            serde_json::json!({ "file": file, "rejected": { "rule": rejection.rule, "line": rejection.line, "message": rejection.message } })
        ),
        Ok((_, summary)) => write_summary(&mut out, &file, &summary),
        Err(rejection) => writeln!(out, "{file}: file rejected: {rejection}"),
    };
    let _ = out.flush();
    code
}

fn write_summary(out: &mut impl Write, file: &str, s: &FileSummary) -> std::io::Result<()> {
    writeln!(out, "{file}: {} rows read, {} clean, {} rejected", s.rows_read, s.rows_loaded, s.rows_rejected)?;
    if !s.violations_by_rule.is_empty() {
        writeln!(out, "  {:<24} {:>12} {:>14}", "rule", "violations", "rows rejected")?;
        for (rule, n) in &s.violations_by_rule {
            let rows = s.rows_rejected_by_rule.get(rule).copied().unwrap_or(0);
            writeln!(out, "  {:<24} {n:>12} {rows:>14}", rule.as_str())?;
        }
    }
    if !s.unknown_columns.is_empty() {
        writeln!(out, "  unknown columns (not loaded): {}", s.unknown_columns.join(", "))?;
    }
    Ok(())
}
