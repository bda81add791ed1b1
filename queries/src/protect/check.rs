//! The protection check: per connected component of hidden atoms, the programmes of each hidden
//! count.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::finding::*;
use super::solve::*;
use crate::relations::{Model, Role};
use crate::suppress::{Cell, Reason};

/// Whether number `n` of the model is shown in `cells`.
pub(super) fn shown(model: &Model, cells: &[Cell], n: usize) -> bool {
    let number = &model.numbers[n];
    let cell = &cells[number.cell];
    match number.role {
        Role::Numerator | Role::Sum => !cell.suppressed,
        Role::Denominator => !cell.denominator_suppressed,
    }
}

/// A hidden cell whose counts the check protects (a cell withheld for coverage is not confidential).
pub(super) fn confidential(cell: &Cell) -> bool {
    cell.suppressed && cell.reason != Some(Reason::Coverage)
}

/// Where each atom occurs.
pub(super) struct Index {
    pub(super) relations_of: Vec<Vec<usize>>,
    pub(super) numbers_of: Vec<Vec<usize>>,
    /// Numbers by their atoms (a count, wherever it is published).
    pub(super) same: HashMap<Vec<usize>, Vec<usize>>,
    /// The numbers of each cell.
    pub(super) of_cell: Vec<Vec<usize>>,
}

impl Index {
    pub(super) fn new(model: &Model, cells: usize) -> Index {
        let mut relations_of = vec![Vec::new(); model.atoms.len()];
        for (r, relation) in model.relations.iter().enumerate() {
            for &(a, _) in &relation.terms {
                relations_of[a].push(r);
            }
        }
        let mut numbers_of = vec![Vec::new(); model.atoms.len()];
        let mut same: HashMap<Vec<usize>, Vec<usize>> = HashMap::new();
        let mut of_cell = vec![Vec::new(); cells];
        for (n, number) in model.numbers.iter().enumerate() {
            for &a in &number.atoms {
                numbers_of[a].push(n);
            }
            if number.role != Role::Sum {
                same.entry(number.atoms.clone()).or_default().push(n);
            }
            of_cell[number.cell].push(n);
        }
        Index { relations_of, numbers_of, same, of_cell }
    }
}

/// Union–find over atom ids.
pub(super) struct Sets(pub(super) Vec<usize>);

impl Sets {
    fn find(&mut self, a: usize) -> usize {
        let mut root = a;
        while self.0[root] != root {
            root = self.0[root];
        }
        let mut a = a;
        while self.0[a] != root {
            let next = self.0[a];
            self.0[a] = root;
            a = next;
        }
        root
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// The result of a check: every hidden count with its interval, and the programmes solved.
#[derive(Debug, Default)]
pub struct Check {
    pub findings: Vec<Finding>,
    pub programmes: usize,
}

/// Checks the hidden counts of `cells` against `model` (module docs). `protected`: counts (as
/// terms) an earlier check of the same model and scope found protected, taken as protected without
/// programmes, and added to — sound as long as cells were only hidden since: hiding a number only
/// widens every interval.
pub fn check(
    model: &Model,
    cells: &[Cell],
    min_count: i64,
    scope: Scope,
    mode: Mode,
    protected: &mut HashSet<Vec<(usize, i64)>>,
) -> Result<Check, ProtectError> {
    let index = Index::new(model, cells.len());
    check_with(model, &index, cells, min_count, scope, mode, protected, None)
}

/// [`check`] with the index built, and where known each atom's true value (`truth`: a feasible
/// point, so a count whose programmes find it `min_count` away from its true value is protected).
#[allow(clippy::too_many_arguments)]
pub(super) fn check_with(
    model: &Model,
    index: &Index,
    cells: &[Cell],
    min_count: i64,
    scope: Scope,
    mode: Mode,
    protected: &mut HashSet<Vec<(usize, i64)>>,
    truth: Option<&[Option<f64>]>,
) -> Result<Check, ProtectError> {
    let started = std::time::Instant::now();
    let in_scope = |a: usize| scope == Scope::All || !model.atoms[a].pooled();
    // What the attacker knows: atoms a shown number of one atom gives.
    let mut known: Vec<Option<f64>> = vec![None; model.atoms.len()];
    let mut facts = Vec::new();
    for (n, number) in model.numbers.iter().enumerate() {
        if !shown(model, cells, n) || !number.atoms.iter().all(|&a| in_scope(a)) {
            continue;
        }
        match number.atoms[..] {
            [a] => known[a] = Some(number.value),
            _ => facts.push(n),
        }
    }
    // Sums served outside the cells (`data_quality`'s rows): shown always, never to hide.
    let mut served = Vec::new();
    for sum in model.served.iter().filter(|s| s.atoms.iter().all(|&a| in_scope(a))) {
        match sum.atoms[..] {
            [a] => known[a] = Some(sum.value),
            _ => served.push((&sum.atoms, sum.value)),
        }
    }
    // The quantities to bound, once each (one count published by several hidden cells).
    let mut findings: Vec<Finding> = Vec::new();
    let mut seen: HashMap<Vec<(usize, i64)>, usize> = HashMap::new();
    for (i, cell) in cells.iter().enumerate() {
        if !confidential(cell) {
            continue;
        }
        let (mut numerator, mut denominator) = (None, None);
        for &n in &index.of_cell[i] {
            match model.numbers[n].role {
                Role::Numerator => numerator = Some(&model.numbers[n].atoms),
                Role::Denominator => denominator = Some(&model.numbers[n].atoms),
                Role::Sum => {}
            }
        }
        let mut wanted: Vec<(What, Vec<(usize, i64)>)> = Vec::new();
        if let Some(n) = numerator {
            wanted.push((What::Numerator, n.iter().map(|&a| (a, 1)).collect()));
        }
        let proportion = cell.share && crate::relations::counts(&cell.indicator).is_some_and(|c| !c.not_a_proportion);
        if let (true, Some(n), Some(d)) = (proportion, numerator, denominator) {
            let mut by: BTreeMap<usize, i64> = d.iter().map(|&a| (a, 1)).collect();
            for &a in n {
                *by.entry(a).or_default() -= 1;
            }
            wanted.push((What::Complement, by.into_iter().filter(|(_, c)| *c != 0).collect()));
        }
        if let (true, Some(d)) = (cell.denominator_suppressed, denominator) {
            wanted.push((What::Denominator, d.iter().map(|&a| (a, 1)).collect()));
        }
        for (what, terms) in wanted {
            if terms.is_empty() || !terms.iter().all(|&(a, _)| in_scope(a)) || seen.contains_key(&terms) {
                continue;
            }
            // A count served beside the cells is public (`cancelled_share`'s denominator, runs +
            // cancelled runs, is a region's activity rows of the year in `data_quality`).
            let atoms: Vec<usize> = terms.iter().map(|&(a, _)| a).collect();
            if terms.iter().all(|&(_, c)| c == 1) && model.served.iter().any(|s| s.atoms == atoms) {
                continue;
            }
            // A complement that is itself a shown count is public (cancelled_share's is the runs).
            if what == What::Complement
                && terms.iter().all(|&(_, c)| c == 1)
                && index
                    .same
                    .get(&terms.iter().map(|&(a, _)| a).collect::<Vec<_>>())
                    .is_some_and(|numbers| numbers.iter().any(|&n| shown(model, cells, n)))
            {
                continue;
            }
            seen.insert(terms.clone(), findings.len());
            findings.push(Finding {
                cell: i,
                what,
                terms,
                low: f64::NEG_INFINITY,
                high: f64::INFINITY,
                exact: false,
                relations: Vec::new(),
                facts: Vec::new(),
                known: Vec::new(),
            });
        }
    }
    // The constraints over hidden atoms, and the components they make.
    let reduce = |terms: &mut dyn Iterator<Item = (usize, f64)>| -> (Vec<(usize, f64)>, f64) {
        let (mut hidden, mut constant) = (Vec::new(), 0.0);
        for (a, c) in terms {
            match known[a] {
                Some(v) => constant += c * v,
                None => hidden.push((a, c)),
            }
        }
        (hidden, constant)
    };
    let mut sets = Sets((0..model.atoms.len()).collect());
    let mut constraints: Vec<Constraint> = Vec::new();
    for relation in &model.relations {
        if !relation.terms.iter().all(|&(a, _)| in_scope(a)) {
            continue;
        }
        let (hidden, constant) = reduce(&mut relation.terms.iter().copied());
        if hidden.is_empty() {
            continue;
        }
        constraints.push((hidden, relation.equal, -constant));
    }
    let shown_sums = facts.iter().map(|&n| (&model.numbers[n].atoms, model.numbers[n].value)).chain(served);
    for (atoms, value) in shown_sums {
        let (hidden, constant) = reduce(&mut atoms.iter().map(|&a| (a, 1.0)));
        if !hidden.is_empty() {
            constraints.push((hidden, true, value - constant));
        }
    }
    for (terms, _, _) in &constraints {
        for w in terms.windows(2) {
            sets.union(w[0].0, w[1].0);
        }
    }
    let mut quantity_terms = Vec::with_capacity(findings.len());
    for f in &findings {
        let (hidden, constant) = reduce(&mut f.terms.iter().map(|&(a, c)| (a, c as f64)));
        for w in hidden.windows(2) {
            sets.union(w[0].0, w[1].0);
        }
        quantity_terms.push((hidden, constant));
    }
    let mut components: BTreeMap<usize, Component> = BTreeMap::new();
    for (terms, equal, rhs) in constraints {
        let root = sets.find(terms[0].0);
        components.entry(root).or_default().constraints.push((terms, equal, rhs));
    }
    for (i, (hidden, constant)) in quantity_terms.into_iter().enumerate() {
        match hidden.first() {
            // Every atom shown: the count is known exactly.
            None => {
                findings[i].low = constant;
                findings[i].high = constant;
                findings[i].exact = true;
            }
            Some(&(a, _)) => {
                let root = sets.find(a);
                components.entry(root).or_default().quantities.push((hidden, constant, i));
            }
        }
    }
    for (a, k) in known.iter().enumerate() {
        if k.is_none() && in_scope(a) {
            let root = sets.find(a);
            if let Some(c) = components.get_mut(&root) {
                c.atoms.push(a);
            }
        }
    }
    let setup = started.elapsed().as_secs_f64();
    let mut programmes = 0;
    for component in components.values() {
        if component.quantities.is_empty() {
            continue;
        }
        // Known protected: taken as such (a component with a window's atom is other than the
        // single years' components the set was filled from, so it is solved whole).
        let mut component = component;
        let pruned;
        if mode == Mode::Verdict && component.atoms.iter().all(|&a| !model.atoms[a].pooled()) {
            let (known, open): (Vec<_>, Vec<_>) =
                component.quantities.iter().cloned().partition(|(_, _, i)| protected.contains(&findings[*i].terms));
            for (_, _, i) in known {
                (findings[i].low, findings[i].high) = (0.0, f64::INFINITY);
            }
            if open.is_empty() {
                continue;
            }
            pruned = Component {
                atoms: component.atoms.clone(),
                constraints: component.constraints.clone(),
                quantities: open,
            };
            component = &pruned;
        }
        let started = std::time::Instant::now();
        let solved = solve(model, component, &mut findings, min_count, mode, truth)?;
        programmes += solved;
        tracing::trace!(
            measures = ?component.atoms.iter().fold(BTreeMap::<(&str, &str), usize>::new(), |mut m, &a| {
                *m.entry((model.atoms[a].measure, model.atoms[a].period.as_str())).or_default() += 1;
                m
            }),
            atoms = component.atoms.len(),
            constraints = component.constraints.len(),
            quantities = component.quantities.len(),
            programmes = solved,
            seconds = started.elapsed().as_secs_f64(),
            "component"
        );
        for &(_, _, i) in &component.quantities {
            if !findings[i].exposed(min_count) {
                protected.insert(findings[i].terms.clone());
            }
        }
    }
    let solving = started.elapsed().as_secs_f64() - setup;
    tracing::trace!(setup, solving, components = components.len(), "check");
    // Which relations and facts name each finding's hidden atoms.
    let facts: HashSet<usize> = facts.into_iter().collect();
    for f in findings.iter_mut().filter(|f| mode == Mode::Exact || f.exposed(min_count)) {
        let mut relations: Vec<usize> = Vec::new();
        let mut named: Vec<usize> = Vec::new();
        for &(a, _) in &f.terms {
            if known[a].is_some() {
                continue;
            }
            relations.extend(
                index.relations_of[a]
                    .iter()
                    .copied()
                    .filter(|&r| model.relations[r].terms.iter().all(|&(b, _)| in_scope(b))),
            );
            named.extend(index.numbers_of[a].iter().copied().filter(|n| facts.contains(n)));
        }
        relations.sort_unstable();
        relations.dedup();
        named.sort_unstable();
        named.dedup();
        let mut beside: Vec<(usize, f64)> = relations
            .iter()
            .flat_map(|&r| model.relations[r].terms.iter().map(|&(a, _)| a))
            .chain(named.iter().flat_map(|&n| model.numbers[n].atoms.iter().copied()))
            .chain(f.terms.iter().map(|&(a, _)| a))
            .filter_map(|a| known[a].map(|v| (a, v)))
            .collect();
        beside.sort_by_key(|&(a, _)| a);
        beside.dedup_by_key(|&mut (a, _)| a);
        (f.relations, f.facts, f.known) = (relations, named, beside);
    }
    Ok(Check { findings, programmes })
}
