//! The build's own SQL files (the indicators' are in the catalogue).

pub const PRELUDE: &str = include_str!("../../sql/prelude.sql");
pub const STANDARDISE: &str = include_str!("../../sql/standardise.sql");
pub const VARIATION: &str = include_str!("../../sql/variation.sql");
