//! End-to-end tests of the `lms` binary and the demo data. One test binary for the whole crate.

mod architecture;
mod ballista;
mod cli;
mod demo_data;
mod privacy;
mod register;
mod s3;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Demo extracts shared by the tests that only read them: two years at a small scale, seed 7.
/// This crate's directory, read when the test runs (cargo sets it): `env!` would keep the path of
/// whichever checkout compiled the test, which a shared target directory can make another one.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
}

pub fn demo() -> &'static (PathBuf, lms_generate::Manifest) {
    static DEMO: OnceLock<(PathBuf, lms_generate::Manifest)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let options =
            lms_generate::Options { seed: 7, first_year: 2020, last_year: 2021, scale: 0.05, codes_of_2024: false };
        let manifest = lms_generate::generate(&dir, &options, reference()).unwrap();
        (dir, manifest)
    })
}

pub fn reference() -> &'static lms_schemas::Reference {
    static REFERENCE: OnceLock<lms_schemas::Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| lms_schemas::Reference::embedded().unwrap())
}

pub fn lms() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lms"));
    c.env_remove("LMS_LAKE_URL").env_remove("LMS_CONFIG").env("LMS_LOG", "warn");
    c
}

/// Every file below `dir`, relative, sorted.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}
