//! The overview page (`GET /`): per indicator, the regions and health trusts of the latest year as
//! sorted bars with their intervals and the national value as a line (Helseatlas style), the
//! national trend over the years, and the table. Rendered here as HTML with inline SVG: no script,
//! no external resource, so it works offline and in any browser.

use std::fmt::Write;

use crate::state::{ValueRow, View};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A value as the page shows it: shares as percent, others with up to three decimals.
fn show(v: Option<f64>, unit: lms_queries::catalogue::Unit) -> String {
    match v {
        None => "–".into(),
        Some(x) if unit == lms_queries::catalogue::Unit::Share => format!("{:.1} %", 100.0 * x),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) => format!("{x:.3}"),
    }
}

fn unit_name(r: &ValueRow) -> String {
    if let Some((_, value)) = r.breakdown.split_once('=') {
        return value.to_string();
    }
    match r.level.as_str() {
        "national" => "Norge".into(),
        "rhf" => r.rhf.clone().unwrap_or_default(),
        _ => r.hf.clone().unwrap_or_default(),
    }
}

/// Sorted horizontal bars with whiskers and the national line.
fn bars(rows: &[&ValueRow], national: Option<f64>, unit: lms_queries::catalogue::Unit) -> String {
    let mut rows: Vec<&&ValueRow> = rows.iter().collect();
    rows.sort_by(|a, b| {
        b.value
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.value.unwrap_or(f64::NEG_INFINITY))
            .then(unit_name(a).cmp(&unit_name(b)))
    });
    let max = rows
        .iter()
        .filter_map(|r| r.ci_high.or(r.value))
        .chain(national)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let (left, width, row_h) = (70.0, 520.0, 18.0);
    let height = rows.len() as f64 * row_h + 30.0;
    let x = |v: f64| left + width * v / max;
    let mut svg = format!(
        r#"<svg class="bars" role="img" width="{}" height="{height}" viewBox="0 0 {} {height}" xmlns="http://www.w3.org/2000/svg">"#,
        left + width + 90.0,
        left + width + 90.0
    );
    for (i, r) in rows.iter().enumerate() {
        let y = 10.0 + i as f64 * row_h;
        let name = esc(&unit_name(r));
        let class = if r.level == "rhf" { "rhf" } else { "hf" };
        let _ =
            write!(svg, r#"<text x="{}" y="{}" text-anchor="end" class="label">{name}</text>"#, left - 6.0, y + 12.0);
        if r.suppressed {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" class="suppressed">prikket (suppressed)</text>"#,
                left + 4.0,
                y + 12.0
            );
            continue;
        }
        let Some(v) = r.value else {
            let _ = write!(svg, r#"<text x="{}" y="{}" class="empty">–</text>"#, left + 4.0, y + 12.0);
            continue;
        };
        let _ = write!(
            svg,
            r#"<rect class="{class}" x="{left}" y="{}" width="{:.1}" height="{}"><title>{name}: {}</title></rect>"#,
            y + 2.0,
            x(v) - left,
            row_h - 5.0,
            esc(&show(Some(v), unit))
        );
        if let (Some(lo), Some(hi)) = (r.ci_low, r.ci_high) {
            let ym = y + row_h / 2.0;
            let _ = write!(
                svg,
                r#"<path class="whisker" d="M{:.1},{ym} H{:.1} M{:.1},{} V{} M{:.1},{} V{}"/>"#,
                x(lo),
                x(hi),
                x(lo),
                ym - 4.0,
                ym + 4.0,
                x(hi),
                ym - 4.0,
                ym + 4.0
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" class="value">{}</text>"#,
            x(r.ci_high.unwrap_or(v)) + 4.0,
            y + 12.0,
            esc(&show(Some(v), unit))
        );
    }
    if let Some(n) = national {
        let _ = write!(
            svg,
            r#"<line class="national" x1="{:.1}" x2="{:.1}" y1="4" y2="{}"/><text x="{:.1}" y="{}" class="national-label">Norge {}</text>"#,
            x(n),
            x(n),
            height - 18.0,
            x(n),
            height - 4.0,
            esc(&show(Some(n), unit))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The national value over the years, with its interval where there is one.
fn trend(rows: &[&ValueRow], unit: lms_queries::catalogue::Unit) -> String {
    // (year, value, interval)
    type Point = (i32, f64, Option<(f64, f64)>);
    let points: Vec<Point> = rows
        .iter()
        .filter(|r| !r.suppressed)
        .filter_map(|r| r.value.map(|v| (r.year, v, r.ci_low.zip(r.ci_high))))
        .collect();
    if points.is_empty() {
        return "<p>No national values.</p>".into();
    }
    let (w, h, pad) = (520.0, 160.0, 40.0);
    let (y0, y1) = (points.first().map_or(0, |p| p.0), points.last().map_or(0, |p| p.0));
    let max = points.iter().map(|p| p.2.map_or(p.1, |c| c.1)).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE);
    let x = |year: i32| {
        pad + if y1 > y0 { (w - 2.0 * pad) * f64::from(year - y0) / f64::from(y1 - y0) } else { (w - 2.0 * pad) / 2.0 }
    };
    let y = |v: f64| h - 25.0 - (h - 40.0) * v / max;
    let mut svg = format!(
        r#"<svg class="trend" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">"#
    );
    let path: Vec<String> = points.iter().map(|p| format!("{:.1},{:.1}", x(p.0), y(p.1))).collect();
    let _ = write!(svg, r#"<polyline class="line" points="{}"/>"#, path.join(" "));
    for (year, v, ci) in &points {
        if let Some((lo, hi)) = ci {
            let _ = write!(svg, r#"<path class="whisker" d="M{:.1},{:.1} V{:.1}"/>"#, x(*year), y(*lo), y(*hi));
        }
        let _ = write!(
            svg,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3"><title>{year}: {}</title></circle><text x="{:.1}" y="{}" text-anchor="middle" class="label">{year}</text>"#,
            x(*year),
            y(*v),
            esc(&show(Some(*v), unit)),
            x(*year),
            h - 8.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The page for one indicator (the first of the catalogue when `id` is not given).
pub fn render(view: &View, id: Option<&str>) -> Option<String> {
    let indicator = match id {
        Some(id) => view.catalogue.iter().find(|i| i.id == id)?,
        None => view.catalogue.first()?,
    };
    let rows: Vec<&ValueRow> = view
        .values
        .get(&indicator.id)
        .map(|r| r.iter().filter(|r| r.breakdown.is_empty()).collect())
        .unwrap_or_default();
    let latest = rows.iter().map(|r| r.year).max();
    let mut html = String::from(
        r#"<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>LMS Monitor</title><style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2733}nav{columns:3;font-size:.85rem;margin-bottom:1rem}
nav a{display:block;color:#0b5394;text-decoration:none}nav a.current{font-weight:bold}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}.label{font-size:11px}.value{font-size:10px;fill:#333}
rect.rhf{fill:#0b5394}rect.hf{fill:#6fa8dc}.whisker{stroke:#222;stroke-width:1;fill:none}
.national{stroke:#c0392b;stroke-width:1.5;stroke-dasharray:4 3}.national-label{font-size:11px;fill:#c0392b}
.suppressed{font-size:11px;fill:#8a6d3b;font-style:italic}.line{fill:none;stroke:#0b5394;stroke-width:2}circle{fill:#0b5394}
table{border-collapse:collapse;font-size:.85rem}td,th{border-bottom:1px solid #ddd;padding:.2rem .6rem;text-align:right}
td:first-child,th:first-child{text-align:left}tr.suppressed td{color:#8a6d3b;font-style:italic}</style></head><body>"#,
    );
    let _ = write!(
        html,
        "<h1>LMS Monitor — {}</h1><p>{} · publication {} · {}</p><nav>",
        esc(&indicator.title_nb),
        esc(&indicator.title_en),
        // The content digest, not the lake version: the page is cached by the publication's tag.
        esc(view.digest.as_deref().map_or("(no digest)", |d| &d[..d.len().min(19)])),
        esc(&indicator.definition)
    );
    for i in view.catalogue {
        let class = if i.id == indicator.id { r#" class="current""# } else { "" };
        let _ = write!(html, r#"<a href="/?indicator={}"{class}>{}</a>"#, esc(&i.id), esc(&i.title_nb));
    }
    html.push_str("</nav>");
    let Some(latest) = latest else {
        html.push_str("<p>No values yet.</p></body></html>");
        return Some(html);
    };
    let national =
        rows.iter().find(|r| r.level == "national" && r.year == latest).filter(|r| !r.suppressed).and_then(|r| r.value);
    let _ = write!(html, r#"<section id="units"><h2>Regions and health trusts, {latest}</h2>"#);
    let units: Vec<&ValueRow> = rows.iter().copied().filter(|r| r.year == latest && r.level != "national").collect();
    html.push_str(&bars(&units, national, indicator.unit));
    if let Some(name) = indicator.breakdowns.first() {
        let by: Vec<&ValueRow> = view.values[&indicator.id]
            .iter()
            .filter(|r| r.year == latest && r.level == "national" && !r.breakdown.is_empty())
            .collect();
        let _ = write!(html, r#"</section><section id="breakdown"><h2>Norway by {}, {latest}</h2>"#, esc(name));
        html.push_str(&bars(&by, national, indicator.unit));
    }
    html.push_str(r#"</section><section id="trend"><h2>National trend</h2>"#);
    let nat: Vec<&ValueRow> = rows.iter().copied().filter(|r| r.level == "national").collect();
    html.push_str(&trend(&nat, indicator.unit));
    let _ = write!(
        html,
        r#"</section><section id="table"><h2>Values, {latest}</h2><table><thead><tr><th>unit</th><th>level</th><th>value</th><th>95 % interval</th><th>numerator</th><th>denominator</th></tr></thead><tbody>"#
    );
    for r in rows.iter().filter(|r| r.year == latest) {
        let interval = match (r.ci_low, r.ci_high) {
            (Some(lo), Some(hi)) => format!("{} – {}", show(Some(lo), indicator.unit), show(Some(hi), indicator.unit)),
            _ => String::new(),
        };
        let (class, value) = if r.suppressed {
            (r#" class="suppressed""#, "prikket".to_string())
        } else {
            ("", show(r.value, indicator.unit))
        };
        let _ = write!(
            html,
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&unit_name(r)),
            r.level,
            esc(&value),
            esc(&interval),
            r.numerator.map(|n| n.to_string()).unwrap_or_default(),
            r.denominator.map(|d| format!("{d:.0}")).unwrap_or_default()
        );
    }
    html.push_str("</tbody></table></section></body></html>");
    Some(html)
}
