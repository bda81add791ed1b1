//! Cells as the rows of `indicator_values` (figures of hidden cells withheld) and of `disclosure`
//! (every figure, for the warehouse host only).

use datafusion::arrow::array::RecordBatch;
use serde::Serialize;

use crate::batch::json_batches;
use crate::cell::{Cell, Reason};
use crate::error::{QueryError, sql_error};
use crate::tables::{ValueRow, disclosure_schema};

/// The cells as `indicator_values`, sorted, with the figures of suppressed cells withheld (the
/// denominator stays unless its count is hidden).
pub(super) fn cells_batch(cells: &[Cell]) -> Result<RecordBatch, QueryError> {
    let mut order: Vec<&Cell> = cells.iter().collect();
    order.sort_by(|a, b| a.key().cmp(&b.key()));
    let rows: Vec<ValueRow> = order
        .into_iter()
        .map(|c| {
            let shown = |v: Option<f64>| if c.suppressed { None } else { v };
            ValueRow {
                indicator: c.indicator.clone(),
                year: c.year,
                period: c.period.clone(),
                level: c.level,
                rhf: c.rhf.clone(),
                hf: c.hf.clone(),
                breakdown: c.breakdown.clone(),
                numerator: if c.suppressed { None } else { Some(c.numerator) },
                denominator: if c.denominator_suppressed { None } else { c.denominator },
                value: shown(c.value),
                ci_low: shown(c.ci_low),
                ci_high: shown(c.ci_high),
                ci99_low: shown(c.ci99_low),
                ci99_high: shown(c.ci99_high),
                suppressed: c.suppressed,
                // Served: `disclosure` or `coverage`, never the finer reason.
                suppression_reason: c.reason.filter(|_| c.suppressed).map(|r| r.served()),
                // Never beside a hidden cell, whatever was computed.
                compared: c.compared.filter(|_| !c.suppressed),
                coverage: c.coverage,
                target: c.target.filter(|_| !c.suppressed),
            }
        })
        .collect();
    ValueRow::to_batch(&rows)
}

/// The cells as [`DISCLOSURE`] rows, sorted, with every figure.
pub(super) fn disclosure_batch(cells: &[Cell]) -> Result<RecordBatch, QueryError> {
    #[derive(Serialize)]
    struct Row<'a> {
        indicator: &'a str,
        year: i32,
        period: &'a str,
        level: &'a str,
        rhf: Option<&'a str>,
        hf: Option<&'a str>,
        breakdown: &'a str,
        numerator: Option<i64>,
        denominator: Option<f64>,
        value: Option<f64>,
        ci_low: Option<f64>,
        ci_high: Option<f64>,
        ci99_low: Option<f64>,
        ci99_high: Option<f64>,
        suppressed: bool,
        denominator_suppressed: bool,
        reason: Option<&'static str>,
        coverage: Option<f64>,
    }
    let mut order: Vec<&Cell> = cells.iter().collect();
    order.sort_by(|a, b| a.key().cmp(&b.key()));
    let rows: Vec<Row> = order
        .into_iter()
        .map(|c| Row {
            indicator: &c.indicator,
            year: c.year,
            period: &c.period,
            level: c.level.as_str(),
            rhf: c.rhf.as_deref(),
            hf: c.hf.as_deref(),
            breakdown: &c.breakdown,
            numerator: Some(c.numerator),
            denominator: c.denominator,
            value: c.value,
            ci_low: c.ci_low,
            ci_high: c.ci_high,
            ci99_low: c.ci99_low,
            ci99_high: c.ci99_high,
            suppressed: c.suppressed,
            denominator_suppressed: c.denominator_suppressed,
            reason: c.reason.filter(|_| c.suppressed).map(Reason::as_str),
            coverage: c.coverage,
        })
        .collect();
    let schema = disclosure_schema();
    let batches = json_batches(schema.clone(), &rows)?;
    datafusion::arrow::compute::concat_batches(&schema, &batches).map_err(sql_error)
}
