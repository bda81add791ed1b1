//! LMS Monitor's contracts: the three monthly extracts the regional health authorities deliver, the
//! dialect each region writes, the rules every row is checked against, identity numbers and their
//! keyed pseudonyms, and the reference data. One declaration ([`contract`]) drives the checks, the
//! lake's Arrow schema and the contract docs.

pub mod bounded;
pub mod check;
pub mod contract;
pub mod delivery;
pub mod dialect;
pub mod identity;
pub mod reader;
pub mod reference;
pub mod rule;
pub mod values;

pub use check::{
    CheckedRow, FileSummary, RowChecker, RowEvent, Value, Violation, check_delivery, check_delivery_in_one_pass,
    check_file_name,
};
pub use contract::{Column, ColumnType, ExtractKind};
pub use delivery::{Delivery, Period};
pub use dialect::{Dialect, Rhf};
pub use reader::FileRejection;
pub use reference::Reference;
pub use rule::Rule;
