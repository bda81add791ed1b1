//! The overview page (`GET /`): per indicator, the regions and health trusts of the latest year as
//! sorted bars with their intervals and the national value as a line (Helseatlas style), the
//! national trend over the years, and the table. Rendered here as HTML with inline SVG: no script,
//! no external resource, so it works offline and in any browser.

use std::fmt::Write;

use lms_queries::Level;
use lms_queries::trend::{Direction, Trend};

use crate::state::{FunnelRow, ValueRow, View};

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
        let class = if r.level == Level::Rhf { "rhf" } else { "hf" };
        let _ =
            write!(svg, r#"<text x="{}" y="{}" text-anchor="end" class="label">{name}</text>"#, left - 6.0, y + 12.0);
        if r.suppressed {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" class="suppressed">prikket (suppressed: {})</text>"#,
                left + 4.0,
                y + 12.0,
                esc(r.suppression_reason.map_or("unknown", |s| s.as_str()))
            );
            continue;
        }
        let Some(v) = r.value else {
            let _ = write!(svg, r#"<text x="{}" y="{}" class="empty">–</text>"#, left + 4.0, y + 12.0);
            continue;
        };
        // Coloured by the configured target where the indicator has one (Resultatportalen's
        // green, yellow, red), else by level.
        let (class, standing) = match r.target.map(|t| t.as_str()) {
            Some(t) => (format!("target-{t}"), format!(" (target: {t})")),
            None => (class.to_string(), String::new()),
        };
        let _ = write!(
            svg,
            r#"<rect class="{class}" x="{left}" y="{}" width="{:.1}" height="{}"><title>{name}: {}{standing}</title></rect>"#,
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

/// A funnel plot: each unit's share (y) against its denominator (x, logarithmic), with the national
/// share and the 95 % and 99.8 % limits as curves (from the rows' p₀ and φ, the formula of
/// indicators.md "Funnel limits"); units outside a limit are drawn in its colour.
/// A trend as an arrow with its words (Fingertips' marks): ↑ increasing, ↓ decreasing, → no
/// significant change, – cannot be calculated; coloured where a target says which way is better.
fn trend_mark(trend: Trend, direction: Option<Direction>) -> String {
    let (arrow, words) = match trend {
        Trend::Increasing => ("↑", "increasing"),
        Trend::Decreasing => ("↓", "decreasing"),
        Trend::NoSignificantChange => ("→", "no significant change"),
        Trend::CannotBeCalculated => ("–", "cannot be calculated"),
    };
    let class = direction.map_or("trend", |d| match d {
        Direction::Improving => "trend improving",
        Direction::Worsening => "trend worsening",
    });
    let title = direction.map_or(words.to_string(), |d| format!("{words}, {}", d.as_str()));
    format!(r#"<span class="{class}" title="{title}">{arrow}</span> {words}"#)
}

fn funnel_plot(rows: &[&FunnelRow]) -> String {
    let Some(first) = rows.first() else {
        return "<p>No funnel: no unit with a shown share and a shown national share.</p>".into();
    };
    let (p0, factor) = (first.national, if first.overdispersed { first.phi.unwrap_or(1.0).sqrt() } else { 1.0 });
    let (w, h, pad) = (560.0, 300.0, 46.0);
    let n_min = rows.iter().map(|r| r.denominator).fold(f64::INFINITY, f64::min).max(1.0);
    let n_max = rows.iter().map(|r| r.denominator).fold(0.0_f64, f64::max).max(n_min * 2.0);
    let (l0, l1) = ((n_min / 1.5).ln(), (n_max * 1.5).ln());
    let lowest = rows.iter().map(|r| r.value.min(r.low998)).fold(p0, f64::min);
    let highest = rows.iter().map(|r| r.value.max(r.high998)).fold(p0, f64::max);
    let (v0, v1) = ((lowest - 0.02).max(0.0), (highest + 0.02).min(1.0));
    let x = |n: f64| pad + (w - 2.0 * pad) * (n.max(1.0).ln() - l0) / (l1 - l0);
    let y = |v: f64| h - pad - (h - 2.0 * pad) * (v - v0) / (v1 - v0).max(1e-9);
    let mut svg = format!(
        r#"<svg class="funnel" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">"#
    );
    // The limit curves over 60 denominators, evenly spaced on the logarithmic axis.
    for (z, class) in [(1.959964, "limit95"), (3.090232, "limit998")] {
        for sign in [1.0, -1.0] {
            let points: Vec<String> = (0..=60)
                .map(|i| {
                    let n = (l0 + (l1 - l0) * f64::from(i) / 60.0).exp();
                    let v = (p0 + sign * z * factor * (p0 * (1.0 - p0) / n).sqrt()).clamp(v0, v1);
                    format!("{:.1},{:.1}", x(n), y(v))
                })
                .collect();
            let _ = write!(svg, r#"<polyline class="{class}" points="{}"/>"#, points.join(" "));
        }
    }
    let _ = write!(
        svg,
        r#"<line class="national" x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><text class="national-label" x="{:.1}" y="{:.1}" text-anchor="end">Norge {:.1} %</text>"#,
        pad,
        w - pad,
        y(p0),
        y(p0),
        w - pad,
        y(p0) - 4.0,
        100.0 * p0
    );
    for r in rows {
        let class = match r.outside.as_deref() {
            Some("above998" | "below998") => "out998",
            Some(_) => "out95",
            None => "inside",
        };
        let name = r.hf.as_deref().or(r.rhf.as_deref()).unwrap_or("?");
        let _ = write!(
            svg,
            r#"<circle class="unit {class}" cx="{:.1}" cy="{:.1}" r="4"><title>{}: {:.3} of {:.0}{}</title></circle>"#,
            x(r.denominator),
            y(r.value),
            esc(name),
            r.value,
            r.denominator,
            r.outside.as_deref().map(|o| format!(" ({o})")).unwrap_or_default()
        );
    }
    let _ = write!(
        svg,
        r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="middle">denominator (log scale)</text><text class="label" x="4" y="{:.1}">share</text>"#,
        w / 2.0,
        h - 10.0,
        pad - 10.0
    );
    if first.overdispersed {
        let _ = write!(
            svg,
            r#"<text class="label" x="{pad}" y="14">over-dispersed: limits widened by √φ, φ = {:.2}</text>"#,
            first.phi.unwrap_or(1.0)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The page for one indicator (the first of the catalogue when `id` is not given).
/// The overview page of indicator `id` (default: the first); `session`: the token name of a browser
/// signed in with a cookie, which gets a sign-out button.
pub fn render(view: &View, id: Option<&str>, session: Option<&str>) -> Option<String> {
    let indicator = match id {
        Some(id) => view.catalogue.iter().find(|i| i.id == id)?,
        None => view.catalogue.first()?,
    };
    let rows: Vec<&ValueRow> = view
        .values
        .get(&indicator.id)
        .map(|r| r.iter().filter(|r| r.breakdown.is_empty() && !r.pooled()).collect())
        .unwrap_or_default();
    let latest = rows.iter().map(|r| r.year).max();
    let mut html = String::from(
        r#"<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>LMS Monitor</title><style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2733}nav{columns:3;font-size:.85rem;margin-bottom:1rem}
nav a{display:block;color:#0b5394;text-decoration:none}nav a.current{font-weight:bold}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}.label{font-size:11px}.value{font-size:10px;fill:#333}
rect.rhf{fill:#0b5394}rect.hf{fill:#6fa8dc}rect.target-good{fill:#27ae60}rect.target-acceptable{fill:#f1c40f}rect.target-below{fill:#c0392b}.trend.improving{color:#27ae60}.trend.worsening{color:#c0392b}.whisker{stroke:#222;stroke-width:1;fill:none}
.national{stroke:#c0392b;stroke-width:1.5;stroke-dasharray:4 3}.national-label{font-size:11px;fill:#c0392b}
.suppressed{font-size:11px;fill:#8a6d3b;font-style:italic}.limit95{fill:none;stroke:#7f8c8d;stroke-dasharray:5 3}
.limit998{fill:none;stroke:#34495e}circle.out95{fill:#e67e22}circle.out998{fill:#c0392b}.note{font-size:.8rem;color:#555}.line{fill:none;stroke:#0b5394;stroke-width:2}circle{fill:#0b5394}
table{border-collapse:collapse;font-size:.85rem}td,th{border-bottom:1px solid #ddd;padding:.2rem .6rem;text-align:right}
td:first-child,th:first-child{text-align:left}tr.suppressed td{color:#8a6d3b;font-style:italic}
form.signout{float:right;font-size:.85rem}</style></head><body>"#,
    );
    if let Some(name) = session {
        let _ = write!(
            html,
            r#"<form class="signout" method="post" action="/signout">{} <button type="submit">Logg ut / Sign out</button></form>"#,
            esc(name)
        );
    }
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
    let national = rows
        .iter()
        .find(|r| r.level == Level::National && r.year == latest)
        .filter(|r| !r.suppressed)
        .and_then(|r| r.value);
    let _ = write!(html, r#"<section id="units"><h2>Regions and health trusts, {latest}</h2>"#);
    let units: Vec<&ValueRow> =
        rows.iter().copied().filter(|r| r.year == latest && r.level != Level::National).collect();
    html.push_str(&bars(&units, national, indicator.unit));
    if let Some(name) = indicator.breakdowns.first() {
        let by: Vec<&ValueRow> = view.values[&indicator.id]
            .iter()
            .filter(|r| r.year == latest && !r.pooled() && r.level == Level::National && !r.breakdown.is_empty())
            .collect();
        let _ = write!(html, r#"</section><section id="breakdown"><h2>Norway by {}, {latest}</h2>"#, esc(name));
        html.push_str(&bars(&by, national, indicator.unit));
    }
    // The funnel of a share: the health trusts of the latest year (the regions where no trust has one).
    if let Some(all) = view.funnel.get(&indicator.id) {
        let of = |level: &str| -> Vec<&FunnelRow> {
            all.iter().filter(|r| r.year == latest && r.level == level && r.breakdown.is_empty()).collect()
        };
        let (level, rows) = match of("hf") {
            rows if !rows.is_empty() => ("health trusts", rows),
            _ => ("regions", of("rhf")),
        };
        let _ = write!(
            html,
            r#"</section><section id="funnel"><h2>Funnel plot, {level}, {latest}</h2><p class="note">Each unit's share against its denominator; the lines are the national share and its 95 % (dashed) and 99.8 % (solid) limits.</p>"#
        );
        html.push_str(&funnel_plot(&rows));
    }
    html.push_str(r#"</section><section id="trend"><h2>National trend</h2>"#);
    let nat: Vec<&ValueRow> = rows.iter().copied().filter(|r| r.level == Level::National).collect();
    html.push_str(&trend(&nat, indicator.unit));
    let _ = write!(
        html,
        r#"</section><section id="table"><h2>Values, {latest}</h2><table><thead><tr><th>unit</th><th>level</th><th>value</th><th>95 % interval</th><th>vs. Norway</th><th>target</th><th>trend</th><th>numerator</th><th>denominator</th></tr></thead><tbody>"#
    );
    let trends = view.trend.get(&indicator.id);
    for r in rows.iter().filter(|r| r.year == latest) {
        // The series' recent trend, where it ends in this year.
        let arrow = trends
            .and_then(|ts| {
                ts.iter().find(|t| {
                    t.level == r.level
                        && t.rhf == r.rhf
                        && t.hf == r.hf
                        && t.breakdown == r.breakdown
                        && t.to_year == Some(latest)
                })
            })
            .map_or(String::new(), |t| trend_mark(t.trend, t.direction));
        let interval = match (r.ci_low, r.ci_high) {
            (Some(lo), Some(hi)) => format!("{} – {}", show(Some(lo), indicator.unit), show(Some(hi), indicator.unit)),
            _ => String::new(),
        };
        let (class, value) = if r.suppressed {
            // Why it is empty: the availability endpoint says, in words.
            let reason = r.suppression_reason.map_or("unknown", |s| s.as_str());
            let unit = r.hf.as_deref().or(r.rhf.as_deref()).map(|u| format!("&unit={u}")).unwrap_or_default();
            let why = format!(
                "/api/v1/availability?indicator={}&year={}&level={}{unit}",
                indicator.id,
                r.year,
                r.level.as_str()
            );
            (r#" class="suppressed""#, format!(r#"<a href="{}">prikket: {}</a>"#, esc(&why), esc(reason)))
        } else {
            ("", esc(&show(r.value, indicator.unit)))
        };
        let _ = write!(
            html,
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{arrow}</td><td>{}</td><td>{}</td></tr>",
            esc(&unit_name(r)),
            r.level.as_str(),
            value,
            esc(&interval),
            esc(r.compared.map_or("", |c| c.as_str())),
            esc(r.target.map_or("", |t| t.as_str())),
            r.numerator.map(|n| n.to_string()).unwrap_or_default(),
            r.denominator.map(|d| format!("{d:.0}")).unwrap_or_default()
        );
    }
    html.push_str("</tbody></table></section>");
    // Why a cell is empty: the reasons of the legend (`GET /api/v1/legend`).
    html.push_str(r#"<section id="legend"><h2>Why a cell is empty</h2><dl>"#);
    for (reason, nb, en) in lms_queries::suppress::LEGEND {
        let _ = write!(html, "<dt>prikket: {}</dt><dd>{} <i>{}</i></dd>", reason.as_str(), esc(nb), esc(en));
    }
    html.push_str("</dl></section></body></html>");
    Some(html)
}
