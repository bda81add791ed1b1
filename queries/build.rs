//! Embeds every `indicators/*.sql` file: adding an indicator is adding a file (and its test).

use std::fmt::Write;

fn main() {
    // The manifest directory of this run, not of the checkout that compiled the script (`env!`):
    // a target directory shared by two checkouts would otherwise embed the other one's files.
    let dir =
        std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR")).join("indicators");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("queries/indicators")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let mut out = String::from(
        "/// (file name, text) of every indicator file, by file name.\npub(crate) const FILES: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().expect("file name").to_string_lossy();
        writeln!(out, "    ({name:?}, include_str!({:?})),", f.display().to_string()).expect("write");
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("indicator_files.rs");
    std::fs::write(dest, out).expect("write indicator_files.rs");
}
