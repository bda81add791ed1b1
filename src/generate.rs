//! `lms generate`: deterministic demo extracts for the four regions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::setup::EXIT_USAGE;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output directory; files go to OUT/{HSO,HV,HMN,HN}/ with manifest.json beside them.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Years, as FIRST-LAST or one year.
    #[arg(long, default_value = "2020-2025")]
    years: String,
    /// Volume multiplier: 1 ≈ a realistic national volume (about a million coded contacts a year).
    #[arg(long, default_value_t = 0.1)]
    scale: f64,
}

fn parse_years(s: &str) -> anyhow::Result<(i32, i32)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let year =
        |y: &str| y.trim().parse::<i32>().map_err(|_| anyhow::anyhow!("--years {s}: expected YYYY or YYYY-YYYY"));
    Ok((year(a)?, year(b)?))
}

pub fn run(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let (first_year, last_year) = match parse_years(&args.years) {
        Ok(y) => y,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let options =
        lms_generate::Options { seed: args.seed, first_year, last_year, scale: args.scale, codes_of_2024: false };
    let reference = lms_schemas::Reference::embedded()?;
    let manifest = match lms_generate::generate(&args.out, &options, &reference) {
        Err(lms_generate::GenerateError::Options(e)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        other => other?,
    };
    let rows: u64 = manifest.files.iter().map(|f| f.rows).sum();
    let planted: usize = manifest.files.iter().map(|f| f.planted.len()).sum();
    let rejected = manifest.files.iter().filter(|f| f.rejected.is_some()).count();
    println!(
        "wrote {} files ({rows} rows; {planted} planted row faults, {rejected} files planted to be rejected) to {}",
        manifest.files.len(),
        args.out.display()
    );
    println!("manifest: {}", args.out.join("manifest.json").display());
    Ok(ExitCode::SUCCESS)
}
