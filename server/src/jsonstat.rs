//! `GET /api/v1/indicators/{id}/jsonstat`: an indicator as a JSON-stat 2.0 dataset (the format of
//! SSB's PxWebApi and FHI's open API), which R (`rjstat`) and Python (`pyjstat`) read.
//!
//! Dimensions, in this order: `period` (role time: years and pooled windows), `unit` (`national`,
//! `rhf:CODE`, `hf:CODE`) and `breakdown` (`total` for the total cell). Values are row-major with the
//! last dimension fastest; a combination without a cell is `null`. A suppressed cell is `null` with
//! its `suppression_reason` as its status; `extension.legend` says each reason in bokmål and English.
//! Selection as PxWebApi v2 writes it: `valueCodes[period]=2023,2024`, `valueCodes[unit]=…`,
//! `valueCodes[breakdown]=…`, `*` for all.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::{ValueRow, View};

const DIMENSIONS: [&str; 3] = ["period", "unit", "breakdown"];

fn unit_code(r: &ValueRow) -> String {
    match (r.level.as_str(), &r.rhf, &r.hf) {
        ("hf", _, Some(hf)) => format!("hf:{hf}"),
        ("rhf", Some(rhf), _) => format!("rhf:{rhf}"),
        _ => "national".into(),
    }
}

fn breakdown_code(r: &ValueRow) -> String {
    if r.breakdown.is_empty() { "total".into() } else { r.breakdown.clone() }
}

/// The selection of the query string: per dimension the codes asked for (`None`: all).
fn selection(q: &HashMap<String, String>) -> Result<[Option<BTreeSet<String>>; 3], ApiError> {
    let mut out: [Option<BTreeSet<String>>; 3] = [None, None, None];
    for (k, v) in q {
        let dimension = k.strip_prefix("valueCodes[").and_then(|d| d.strip_suffix(']'));
        let Some(i) = dimension.and_then(|d| DIMENSIONS.iter().position(|x| *x == d)) else {
            return Err(ApiError::BadRequest(format!(
                "unknown parameter `{k}` (expected valueCodes[period], valueCodes[unit] or valueCodes[breakdown])"
            )));
        };
        if v != "*" {
            out[i] = Some(v.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_string).collect());
        }
    }
    Ok(out)
}

/// The dataset of indicator `id` (known to the view).
pub fn dataset(view: &View, id: &str, q: &HashMap<String, String>) -> Result<Value, ApiError> {
    let indicator = view.catalogue.iter().find(|i| i.id == id).ok_or_else(|| ApiError::NotFound(id.to_string()))?;
    let chosen = selection(q)?;
    let rows: Vec<&ValueRow> = view.values.get(id).map(|r| r.iter().collect()).unwrap_or_default();
    let code = |r: &ValueRow| [r.period.clone(), unit_code(r), breakdown_code(r)];
    let rows: Vec<(&ValueRow, [String; 3])> = rows
        .into_iter()
        .map(|r| (r, code(r)))
        .filter(|(_, c)| (0..3).all(|i| chosen[i].as_ref().is_none_or(|s| s.contains(&c[i]))))
        .collect();
    // Categories in a stable order: periods as text (years before their windows), units national,
    // regions, trusts, breakdowns total first.
    let mut categories: [Vec<String>; 3] = Default::default();
    for i in 0..3 {
        let set: BTreeSet<&String> = rows.iter().map(|(_, c)| &c[i]).collect();
        let mut v: Vec<String> = set.into_iter().cloned().collect();
        if i == 1 {
            let rank = |c: &String| match c.split(':').next() {
                Some("national") => 0,
                Some("rhf") => 1,
                _ => 2,
            };
            v.sort_by(|a, b| (rank(a), a).cmp(&(rank(b), b)));
        }
        if i == 2 {
            v.sort_by_key(|c| (c != "total", c.clone()));
        }
        categories[i] = v;
    }
    let index: Vec<BTreeMap<&str, usize>> =
        categories.iter().map(|c| c.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect()).collect();
    let size: Vec<usize> = categories.iter().map(Vec::len).collect();
    let mut value = vec![Value::Null; size.iter().product()];
    let mut status = serde_json::Map::new();
    for (r, c) in &rows {
        let at = (index[0][c[0].as_str()] * size[1] + index[1][c[1].as_str()]) * size[2] + index[2][c[2].as_str()];
        if r.suppressed {
            status.insert(at.to_string(), json!(r.suppression_reason.map_or("suppressed", |s| s.as_str())));
        } else if let Some(v) = r.value {
            value[at] = json!(v);
        }
    }
    let dimension = |i: usize, label: &str, names: &dyn Fn(&str) -> String| {
        let cats = &categories[i];
        json!({
            "label": label,
            "category": {
                "index": cats.iter().enumerate().map(|(n, c)| (c.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "label": cats.iter().map(|c| (c.clone(), json!(names(c)))).collect::<serde_json::Map<_, _>>(),
            }
        })
    };
    let period_name = |c: &str| if c.len() > 4 { format!("{c} (pooled, yearly average)") } else { c.to_string() };
    let unit_name = |c: &str| match c.split_once(':') {
        Some((_, code)) => code.to_string(),
        None => "Norge".to_string(),
    };
    let legend: serde_json::Map<String, Value> = lms_queries::suppress::LEGEND
        .iter()
        .map(|(r, nb, en)| (r.as_str().to_string(), json!({"nb": nb, "en": en})))
        .collect();
    Ok(json!({
        "version": "2.0",
        "class": "dataset",
        "label": indicator.title_en,
        "source": "LMS Monitor",
        "updated": view.committed_at.map(|t| t.to_rfc3339()),
        "note": [indicator.definition],
        "id": DIMENSIONS,
        "size": size,
        "role": {"time": ["period"], "geo": ["unit"]},
        "dimension": {
            "period": dimension(0, "period", &period_name),
            "unit": dimension(1, "unit", &unit_name),
            "breakdown": dimension(2, "breakdown", &|c: &str| c.to_string()),
        },
        "value": value,
        "status": status,
        "extension": {
            "indicator": indicator.id,
            "unit_of_measure": indicator.unit,
            "digest": view.digest,
            "legend": legend,
        }
    }))
}
