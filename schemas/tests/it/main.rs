//! Integration tests of the contracts: every rule in every dialect, the readers' dialect handling,
//! and file-level rejections. Fixtures are rendered here by hand, independently of the generator.

mod fixture;
mod reader;
mod rules;
