//! The linear programmes: a hidden count's smallest and largest value.

use std::collections::HashMap;

use super::finding::*;
use crate::relations::Model;

/// Bounds the component's quantities (module docs); returns the programmes solved.
pub(super) fn solve(
    model: &Model,
    component: &Component,
    findings: &mut [Finding],
    min_count: i64,
    mode: Mode,
    truth: Option<&[Option<f64>]>,
) -> Result<usize, ProtectError> {
    let lp = Programme::new(model, component);
    let quantities = &component.quantities;
    let value = |terms: &[(usize, f64)], constant: f64, at: &dyn Fn(usize) -> Option<f64>| -> Option<f64> {
        terms.iter().map(|&(a, c)| at(a).map(|v| c * v)).sum::<Option<f64>>().map(|v| v + constant)
    };
    // The extremes seen of each quantity over the feasible points found, from the true one where
    // known.
    let mut seen: Vec<(f64, f64)> = quantities
        .iter()
        .map(|(terms, constant, _)| {
            let v = value(terms, *constant, &|a| truth.and_then(|t| t[a]));
            v.map_or((f64::INFINITY, f64::NEG_INFINITY), |v| (v, v))
        })
        .collect();
    let wide = |(low, high): (f64, f64)| high - low >= min_count as f64 - EPSILON;
    let see = |point: &[f64], seen: &mut Vec<(f64, f64)>| {
        for (j, (terms, constant, _)) in quantities.iter().enumerate() {
            if let Some(v) = value(terms, *constant, &|a| Some(point[lp.position[&a]])) {
                seen[j] = (seen[j].0.min(v), seen[j].1.max(v));
            }
        }
    };
    let mut programmes = 0;
    // Where many counts are to be bounded, a few programmes in mixed directions first: each of
    // their solutions pushes many counts up and others down at once (the sign of a count's terms
    // drawn from its position, so the same component is probed alike every time).
    if mode == Mode::Verdict {
        for round in 0..PROBES {
            let open: Vec<usize> = (0..quantities.len()).filter(|&q| !wide(seen[q])).collect();
            if open.len() < 8 {
                break;
            }
            let mut objective = vec![0.0; lp.size()];
            for &q in &open {
                let sign = if (q.wrapping_mul(0x9E37_79B9).wrapping_add(round * 0x85EB_CA6B) >> 7) & 1 == 0 {
                    1.0
                } else {
                    -1.0
                };
                for &(a, c) in &quantities[q].0 {
                    objective[lp.position[&a]] += sign * c;
                }
            }
            programmes += 1;
            if let Extreme::At(_, point) = lp.solve(&objective, true)? {
                see(&point, &mut seen);
            }
        }
    }
    for q in 0..quantities.len() {
        let (terms, constant, finding) = &quantities[q];
        if mode == Mode::Verdict && wide(seen[q]) {
            (findings[*finding].low, findings[*finding].high) = seen[q];
            continue;
        }
        let mut objective = vec![0.0; lp.size()];
        for &(a, c) in terms {
            objective[lp.position[&a]] += c;
        }
        let mut extremes = [0.0; 2];
        for (k, maximise) in [true, false].into_iter().enumerate() {
            programmes += 1;
            extremes[k] = match lp.solve(&objective, maximise)? {
                Extreme::At(v, point) => {
                    see(&point, &mut seen);
                    v + constant
                }
                Extreme::Unbounded => {
                    if maximise {
                        f64::INFINITY
                    } else {
                        f64::NEG_INFINITY
                    }
                }
            };
            if mode == Mode::Verdict && maximise && wide(seen[q]) {
                break;
            }
            if !maximise {
                let f = &mut findings[*finding];
                (f.low, f.high, f.exact) = (extremes[1], extremes[0], true);
            }
        }
        if !findings[*finding].exact {
            (findings[*finding].low, findings[*finding].high) = seen[q];
        }
    }
    Ok(programmes)
}

/// How many mixed-direction programmes [`solve`] tries first.
const PROBES: usize = 3;

/// The optimum of a programme, with the point that reaches it.
enum Extreme {
    At(f64, Vec<f64>),
    Unbounded,
}

/// A component's constraints, ready to be optimised in any direction.
pub(super) struct Programme<'a> {
    pub(super) model: &'a Model,
    pub(super) component: &'a Component,
    pub(super) position: HashMap<usize, usize>,
}

impl<'a> Programme<'a> {
    fn new(model: &'a Model, component: &'a Component) -> Programme<'a> {
        let position = component.atoms.iter().enumerate().map(|(i, &a)| (a, i)).collect();
        Programme { model, component, position }
    }

    fn size(&self) -> usize {
        self.component.atoms.len()
    }

    /// The largest (or smallest) value of Σ objective · atom over the component.
    fn solve(&self, objective: &[f64], maximise: bool) -> Result<Extreme, ProtectError> {
        use microlp::{ComparisonOp, OptimizationDirection, Problem};
        let direction = if maximise { OptimizationDirection::Maximize } else { OptimizationDirection::Minimize };
        let mut problem = Problem::new(direction);
        let vars: Vec<_> = self
            .component
            .atoms
            .iter()
            .zip(objective)
            .map(|(&a, &c)| problem.add_var(c, (self.model.lower[a], f64::INFINITY)))
            .collect();
        for (terms, equal, rhs) in &self.component.constraints {
            let expr: Vec<_> = terms.iter().map(|&(a, c)| (vars[self.position[&a]], c)).collect();
            let op = if *equal { ComparisonOp::Eq } else { ComparisonOp::Le };
            problem.add_constraint(expr.as_slice(), op, *rhs);
        }
        match problem.solve() {
            Ok(microlp::SolveOutcome::Solution(solution)) => {
                let point = vars.iter().map(|&v| solution.var_value(v)).collect();
                Ok(Extreme::At(solution.objective(), point))
            }
            Err(microlp::Error::Unbounded) => Ok(Extreme::Unbounded),
            Err(microlp::Error::Infeasible) => {
                let example =
                    self.component.atoms.first().map(|&a| self.model.atoms[a].to_string()).unwrap_or_default();
                Err(ProtectError::Infeasible(format!("component of {example}")))
            }
            Ok(microlp::SolveOutcome::Interrupted(_)) => {
                Err(ProtectError::Solver("the solver stopped without a solution".into()))
            }
            Err(e) => Err(ProtectError::Solver(e.to_string())),
        }
    }
}

/// A connected part of the attacker's problem: its hidden atoms, the constraints between them and
/// the quantities to bound.
#[derive(Default)]
pub(super) struct Component {
    pub(super) atoms: Vec<usize>,
    pub(super) constraints: Vec<Constraint>,
    pub(super) quantities: Vec<Quantity>,
}
