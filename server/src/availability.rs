//! `GET /api/v1/availability?indicator=I&year=Y&level=L&unit=U`: why a cell (the single year, the
//! total, no breakdown) is or is not there, in the order a reader would ask: is the indicator
//! computed at that level, is there such a unit, is the cell there, is it shown.
//!
//! | status | when |
//! |---|---|
//! | `not_defined` | the indicator is not computed at that level |
//! | `no_such_unit` | no cell of any indicator at that level names the unit |
//! | `no_delivery` | the unit has cells, but none of this indicator for that year: nothing from its region was counted for it |
//! | `below_coverage` | the cell is hidden because its region delivered too few months (reason `coverage`) |
//! | `hidden` | the cell is hidden by disclosure control (reason `disclosure`) |
//! | `shown` | the cell is served, with its value |

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use lms_queries::cell::Served;
use lms_queries::{Indicator, Level};
use serde::Serialize;

use crate::access::counted;
use crate::api::{admit, known};
use crate::auth::Role;
use crate::error::ApiError;
use crate::state::{AppState, View};

/// The answer.
#[derive(Debug, Serialize)]
pub struct Availability {
    pub indicator: String,
    pub year: i32,
    pub level: &'static str,
    pub unit: Option<String>,
    pub status: &'static str,
    /// The served reason of a hidden cell.
    pub reason: Option<&'static str>,
    pub value: Option<f64>,
    pub text_nb: String,
    pub text_en: String,
}

/// Whether `unit` is the unit of a cell at `level`.
fn names(level: Level, rhf: Option<&String>, hf: Option<&String>, unit: Option<&str>) -> bool {
    match level {
        Level::National => true,
        Level::Rhf => rhf.map(String::as_str) == unit,
        Level::Hf => hf.map(String::as_str) == unit,
    }
}

/// The status of (indicator, year, level, unit) in `view`.
pub fn status(view: &View, indicator: &Indicator, year: i32, level: Level, unit: Option<&str>) -> Availability {
    let id = indicator.id.as_str();
    let answer =
        |status: &'static str, reason: Option<&'static str>, value: Option<f64>, nb: String, en: String| Availability {
            indicator: id.to_string(),
            year,
            level: level.as_str(),
            unit: unit.map(str::to_string),
            status,
            reason,
            value,
            text_nb: nb,
            text_en: en,
        };
    let (what, what_en) = (unit.unwrap_or("landet"), unit.unwrap_or("the nation"));
    if !indicator.levels.contains(&level) {
        return answer(
            "not_defined",
            None,
            None,
            format!("{id} beregnes ikke på nivået {}.", level.as_str()),
            format!("{id} is not computed at the {} level.", level.as_str()),
        );
    }
    let known_unit = level == Level::National
        || view
            .values
            .values()
            .flatten()
            .any(|r| r.level == level && names(level, r.rhf.as_ref(), r.hf.as_ref(), unit));
    if !known_unit {
        return answer(
            "no_such_unit",
            None,
            None,
            format!("Ingen enhet {what} på nivået {}.", level.as_str()),
            format!("There is no unit {what_en} at the {} level.", level.as_str()),
        );
    }
    let period = year.to_string();
    let cell = view.values.get(id).into_iter().flatten().find(|r| {
        r.year == year
            && r.period == period
            && r.level == level
            && r.breakdown.is_empty()
            && names(level, r.rhf.as_ref(), r.hf.as_ref(), unit)
    });
    match cell {
        None => answer(
            "no_delivery",
            None,
            None,
            format!("Ingen leveranse er telt for {what} i {year}."),
            format!("No delivery was counted for {what_en} in {year}."),
        ),
        Some(c) if !c.suppressed => answer(
            "shown",
            None,
            c.value,
            format!("Verdien for {what} i {year} vises."),
            format!("The value for {what_en} in {year} is shown."),
        ),
        Some(c) => match c.suppression_reason {
            Some(Served::Coverage) => answer(
                "below_coverage",
                Some(Served::Coverage.as_str()),
                None,
                format!("Skjult: regionen leverte for få måneder i {year} til at tallet er sammenlignbart."),
                format!("Hidden: the region delivered too few months in {year} for the figure to compare."),
            ),
            _ => answer(
                "hidden",
                Some(Served::Disclosure.as_str()),
                None,
                format!("Skjult for å verne personer: tallet er lite, eller kunne regnes ut fra andre tall i {year}."),
                format!("Hidden to protect persons: the count is small, or could be worked out from others in {year}."),
            ),
        },
    }
}

/// The endpoint (dashboard+): `indicator` and `year` required; `level` (default national); `unit`
/// (the RHF or HF code) for rhf and hf.
pub async fn availability(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = admit(&state, &headers, Role::Dashboard)?;
    let bad = |m: String| ApiError::BadRequest(m);
    for k in q.keys() {
        if !["indicator", "year", "level", "unit"].contains(&k.as_str()) {
            return Err(bad(format!("unknown parameter `{k}` (expected indicator, year, level, unit)")));
        }
    }
    let id = q.get("indicator").ok_or_else(|| bad("indicator=… is needed".into()))?;
    let indicator = known(&view, id)?;
    let year = q.get("year").and_then(|y| y.parse::<i32>().ok()).ok_or_else(|| bad("year=YYYY is needed".into()))?;
    let level = match q.get("level") {
        None => Level::National,
        Some(l) => Level::parse(l).ok_or_else(|| bad(format!("level={l}: expected national, rhf or hf")))?,
    };
    let unit = q.get("unit").map(String::as_str);
    if level != Level::National && unit.is_none() {
        return Err(bad(format!("level={}: unit=… (the region's or trust's code) is needed", level.as_str())));
    }
    let answer = status(&view, indicator, year, level, unit.filter(|_| level != Level::National));
    let rows = usize::from(answer.status == "shown");
    Ok(counted(Json(answer).into_response(), rows))
}
