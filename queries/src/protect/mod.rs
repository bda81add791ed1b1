//! Disclosure control that holds against differencing (indicators.md, third edition): the
//! protection check and the secondary suppression it drives.
//!
//! **The check** (τ-ARGUS's protection-interval audit). An attacker sees every shown number of a
//! publication and knows every relation of [`crate::relations`]. For each hidden count — a hidden
//! cell's numerator, a hidden share's complement (denominator − numerator), a hidden denominator —
//! two linear programmes give its smallest and largest value over all real solutions that agree
//! with the shown numbers and the relations (every count ≥ 0). A count is *protected* when they differ
//! by at least `min_count`; *exposed* otherwise. A complement that is itself a shown count
//! (`cancelled_share`'s complement is the runs `course_runs` shows) is public, not hidden. The programmes are solved per connected component
//! of the hidden atoms (atoms that share a relation), with `microlp`. Where only the verdict is
//! needed, a count whose solutions seen so far already differ by `min_count` is protected without
//! programmes of its own (each solution is a feasible point, so the true interval is at least as
//! wide).
//!
//! **The procedure** ([`protect`]), which only ever hides more:
//! 1. primary suppression (numerator, complement, small denominator: `crate::suppress`);
//! 2. one count, one fate: a count hidden in one cell is hidden in every cell that publishes it, as
//!    numerator or denominator (a hidden denominator hides its cell's value, so the cell too); a
//!    pooled window is hidden with any of its years; then the rounds of `crate::suppress`; repeated
//!    until neither hides more;
//! 3. the check over the single years; for each exposed count, one more number is hidden: among
//!    the shown numbers in the relations that bind the exposed count, the one whose hiding hides
//!    the fewest shown cells, then the nearest, then the smallest count of `min_count` or more,
//!    then the lowest code; but where a sum `data_quality` serves is as near as any of them, its
//!    rows are withheld instead (that hides no published cell); then step 2's fates; repeated
//!    until nothing is exposed;
//! 4. the check over everything (pooled windows and their relation (d) too); a publication with an
//!    exposed count is an error, and is never committed.
//!
//! Invariant afterwards: every hidden count of `cells` is protected against every relation.
//!
//! Why windows take no part in steps 2–3 beyond being hidden with their years: a shown window has
//! its three years shown, so (d) gives the attacker nothing the years' relations do not, and a
//! hidden window's interval is at least that of its hidden year. Step 4 checks that rather than
//! trusting it. It also keeps each year's decisions to that year's cells, so an incremental build
//! that takes unchanged years from the last publication decides them as a full build does.

mod check;
mod finding;
mod procedure;
mod solve;

pub use check::{Check, check};
pub use finding::{Finding, Mode, ProtectError, Scope, What};
pub use procedure::{describe, protect};
