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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::relations::{Model, ModelError, RelationKind, Role, RowsLoaded};
use crate::suppress::{self, Cell, Reason, Suppression, hide};

/// A difference smaller than this is none (the programmes are solved in floating point).
const EPSILON: f64 = 1e-6;

/// What a protected quantity is, of its cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum What {
    Numerator,
    /// A share's denominator minus its numerator.
    Complement,
    Denominator,
}

impl What {
    pub fn as_str(self) -> &'static str {
        match self {
            What::Numerator => "numerator",
            What::Complement => "complement",
            What::Denominator => "denominator",
        }
    }
}

/// A hidden count and what the attacker can know of it.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The first cell (in the order given) that hides it.
    pub cell: usize,
    pub what: What,
    /// Σ coefficient · atom.
    pub terms: Vec<(usize, i64)>,
    /// Its smallest and largest value (±∞ where unbounded). Where `exact` is false, a narrower
    /// interval of values the check saw feasible, already at least `min_count` wide.
    pub low: f64,
    pub high: f64,
    pub exact: bool,
    /// The relations (indexes into the model's) that name its hidden atoms (this and the next two
    /// fields are filled for an exposed count, and for every count in [`Mode::Exact`]).
    pub relations: Vec<usize>,
    /// Shown numbers of several atoms that name them (indexes into the model's numbers).
    pub facts: Vec<usize>,
    /// The shown atoms of those relations and numbers, with their values: what the attacker
    /// reads beside them.
    pub known: Vec<(usize, f64)>,
}

impl Finding {
    pub fn exposed(&self, min_count: i64) -> bool {
        self.high - self.low < min_count as f64 - EPSILON
    }
}

/// Why a publication cannot be protected or checked.
#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The shown numbers contradict the relations: a relation of `crate::relations` does not
    /// hold for these figures.
    #[error("disclosure check: the shown figures contradict the relations ({0})")]
    Infeasible(String),
    #[error("disclosure check: {0}")]
    Solver(String),
    /// Secondary suppression could not protect a count (nothing shown is left beside it).
    #[error("disclosure control: {0}")]
    Unprotectable(String),
    /// The final check found an exposed count: the publication must not be committed.
    #[error("disclosure control: {count} hidden count(s) can be worked out, e.g. {example}")]
    Exposed { count: usize, example: String },
}

/// Which part of a publication a check covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The single years: pooled windows' atoms, numbers and relations left out.
    Years,
    /// Everything.
    All,
}

/// How much a check computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The verdict: stop a count's programmes once it is seen protected.
    Verdict,
    /// Both programmes of every count (`lms audit disclosure`).
    Exact,
}

/// Whether number `n` of the model is shown in `cells`.
fn shown(model: &Model, cells: &[Cell], n: usize) -> bool {
    let number = &model.numbers[n];
    let cell = &cells[number.cell];
    match number.role {
        Role::Numerator | Role::Sum => !cell.suppressed,
        Role::Denominator => !cell.denominator_suppressed,
    }
}

/// A hidden cell whose counts the check protects (a cell withheld for coverage is not confidential).
fn confidential(cell: &Cell) -> bool {
    cell.suppressed && cell.reason != Some(Reason::Coverage)
}

/// Where each atom occurs.
struct Index {
    relations_of: Vec<Vec<usize>>,
    numbers_of: Vec<Vec<usize>>,
    /// Numbers by their atoms (a count, wherever it is published).
    same: HashMap<Vec<usize>, Vec<usize>>,
    /// The numbers of each cell.
    of_cell: Vec<Vec<usize>>,
}

impl Index {
    fn new(model: &Model, cells: usize) -> Index {
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

/// One count, one fate (step 2 of the module docs): hides every number whose count is hidden
/// elsewhere, every pooled window with a hidden year, and the denominator of a hidden cell that
/// contains its numerator (`cancelled_share`'s runs + cancelled, less the runs `course_runs`
/// shows, is the numerator); returns the cells newly hidden.
fn share_fates(model: &Model, cells: &mut [Cell]) -> usize {
    let numerators: HashMap<usize, &[usize]> =
        model.numbers.iter().filter(|n| n.role == Role::Numerator).map(|n| (n.cell, n.atoms.as_slice())).collect();
    let mut hidden_cells = 0;
    loop {
        let mut hidden: HashSet<&[usize]> = HashSet::new();
        for (n, number) in model.numbers.iter().enumerate() {
            if number.role != Role::Sum && confidential(&cells[number.cell]) && !shown(model, cells, n) {
                hidden.insert(&number.atoms);
            }
        }
        // A window whose year is hidden: its atom is hidden too.
        let mut windows: HashSet<usize> = HashSet::new();
        for relation in model.relations.iter().filter(|r| r.kind == RelationKind::Window) {
            let (window, years) = (relation.terms[0].0, &relation.terms[1..]);
            if years.iter().any(|&(y, _)| hidden.contains(&[y][..])) {
                windows.insert(window);
            }
        }
        let mut hide: Vec<usize> = Vec::new();
        for (n, number) in model.numbers.iter().enumerate() {
            if number.role == Role::Sum || !shown(model, cells, n) {
                continue;
            }
            let window = matches!(number.atoms[..], [a] if windows.contains(&a));
            let holds_numerator = number.role == Role::Denominator
                && confidential(&cells[number.cell])
                && numerators.get(&number.cell).is_some_and(|num| num.iter().all(|a| number.atoms.contains(a)));
            if window || holds_numerator || hidden.contains(&number.atoms[..]) {
                hide.push(n);
            }
        }
        if hide.is_empty() {
            return hidden_cells;
        }
        for n in hide {
            let number = &model.numbers[n];
            let cell = &mut cells[number.cell];
            if !cell.suppressed {
                hidden_cells += 1;
            }
            self::hide(cell, Reason::Shared);
            if number.role == Role::Denominator {
                cell.denominator_suppressed = true;
            }
        }
    }
}

/// Σ coefficient · atom.
type Terms = Vec<(usize, f64)>;

/// A constraint over hidden atoms: Σ terms = rhs (`equal`) or ≤ rhs.
type Constraint = (Terms, bool, f64);

/// A count to bound: its terms over hidden atoms, the constant part from shown atoms, the index of
/// its finding.
type Quantity = (Terms, f64, usize);

/// A connected part of the attacker's problem: its hidden atoms, the constraints between them and
/// the quantities to bound.
#[derive(Default)]
struct Component {
    atoms: Vec<usize>,
    constraints: Vec<Constraint>,
    quantities: Vec<Quantity>,
}

/// Union–find over atom ids.
struct Sets(Vec<usize>);

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
fn check_with(
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

/// Bounds the component's quantities (module docs); returns the programmes solved.
fn solve(
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
struct Programme<'a> {
    model: &'a Model,
    component: &'a Component,
    position: HashMap<usize, usize>,
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

/// Disclosure control over every cell of a publication (module docs), with the rows loaded that
/// `data_quality` serves beside them: sets `suppressed`, `denominator_suppressed` and `reason`;
/// returns what it did. Cells withheld for coverage are
/// withheld after it, by the build.
pub fn protect(cells: &mut [Cell], min_count: i64, loaded: &[RowsLoaded]) -> Result<Suppression, ProtectError> {
    let started = std::time::Instant::now();
    let mut model = Model::of(cells)?.with_rows_loaded(loaded);
    let index = Index::new(&model, cells.len());
    tracing::debug!(
        atoms = model.atoms.len(),
        numbers = model.numbers.len(),
        relations = model.relations.len(),
        seconds = started.elapsed().as_secs_f64(),
        "disclosure model"
    );
    let mut report = Suppression::default();
    for (reason, n) in suppress::suppress_primary(cells, min_count) {
        match reason {
            Reason::Primary => report.primary += n,
            Reason::Complement => report.complement += n,
            _ => report.small_denominator += n,
        }
    }
    loop {
        let shared = share_fates(&model, cells);
        let (secondary, rounds) = suppress::suppress_rounds(cells, min_count);
        report.shared += shared;
        report.secondary += secondary;
        report.rounds += rounds;
        if shared == 0 && secondary == 0 {
            break;
        }
    }
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "fates and rounds");
    let mut protected = HashSet::new();
    let truth = model.single_values();
    loop {
        let started = std::time::Instant::now();
        let check =
            check_with(&model, &index, cells, min_count, Scope::Years, Mode::Verdict, &mut protected, Some(&truth))?;
        report.programmes += check.programmes;
        tracing::debug!(
            programmes = check.programmes,
            findings = check.findings.len(),
            exposed = check.findings.iter().filter(|f| f.exposed(min_count)).count(),
            seconds = started.elapsed().as_secs_f64(),
            "protection check"
        );
        let exposed: Vec<&Finding> = check.findings.iter().filter(|f| f.exposed(min_count)).collect();
        if exposed.is_empty() {
            break;
        }
        if tracing::enabled!(tracing::Level::TRACE) {
            let mut by: BTreeMap<(String, &str, String), usize> = BTreeMap::new();
            for f in &exposed {
                let c = &cells[f.cell];
                let b = c.breakdown.split('=').next().unwrap_or_default().to_string();
                *by.entry((format!("{} {}", c.indicator, c.level), f.what.as_str(), b)).or_default() += 1;
            }
            tracing::trace!(?by, "exposed");
        }
        // One more number for each exposed count, together (as a round of the rules does).
        let mut chosen = Vec::new();
        let mut withhold = BTreeSet::new();
        for f in exposed {
            match candidate(&model, &index, cells, f, min_count) {
                Choice::Hide(n) => {
                    tracing::trace!(
                        exposed = %format!("{} of {}", f.what.as_str(), describe(&cells[f.cell])),
                        interval = %format!("[{}, {}]", f.low, f.high),
                        hidden = %format!("{:?} of {}", model.numbers[n].role, describe(&cells[model.numbers[n].cell])),
                        "secondary"
                    );
                    chosen.push(n);
                }
                Choice::Withhold(sums) if !sums.is_empty() => {
                    // One region's rows take a national sum away: the smallest region's.
                    let fewest = |s: usize| model.served[s].from.iter().copied().min_by_key(|&i| (loaded[i].rows, i));
                    withhold.extend(sums.iter().filter_map(|&s| fewest(s)));
                }
                Choice::Withhold(_) => {
                    // The cell, not the interval: the message reaches the run record, which
                    // controllers read (`lms audit disclosure` on the host gives the rest).
                    return Err(ProtectError::Unprotectable(format!(
                        "nothing shown is left to hide beside the {} of {}",
                        f.what.as_str(),
                        describe(&cells[f.cell])
                    )));
                }
            }
        }
        // Rows loaded withheld from data_quality: every served sum that adds them up goes.
        if !withhold.is_empty() {
            tracing::trace!(?withhold, "rows loaded withheld");
            model.served.retain(|s| !s.from.iter().any(|i| withhold.contains(i)));
            report.rows_withheld.extend(withhold);
        }
        chosen.sort_unstable();
        chosen.dedup();
        for n in chosen {
            let number = &model.numbers[n];
            let cell = &mut cells[number.cell];
            if !cell.suppressed {
                report.secondary += 1;
                report.secondary_protection += 1;
            }
            hide(cell, Reason::Secondary);
            if number.role == Role::Denominator {
                cell.denominator_suppressed = true;
            }
        }
        report.shared += share_fates(&model, cells);
    }
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "single years protected");
    // The single years' components are as they were last checked; those a window joins are new.
    let whole = check_with(&model, &index, cells, min_count, Scope::All, Mode::Verdict, &mut protected, Some(&truth))?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        programmes = whole.programmes,
        "whole publication checked"
    );
    report.programmes += whole.programmes;
    let exposed: Vec<&Finding> = whole.findings.iter().filter(|f| f.exposed(min_count)).collect();
    if let Some(f) = exposed.first() {
        return Err(ProtectError::Exposed {
            count: exposed.len(),
            example: format!("the {} of {}", f.what.as_str(), describe(&cells[f.cell])),
        });
    }
    report.checked = whole.findings.len();
    Ok(report)
}

/// The shown number to hide for an exposed finding (step 3 of the module docs). Candidates: the
/// shown numbers of the single-year relations that name its hidden atoms (layer 1), of the
/// relations that name those relations' hidden atoms (layer 2), and so on to [`LAYERS`] (further
/// where nothing nearer can be hidden); the one
/// that hides the fewest shown cells wins, then the nearest, then the smallest count of
/// `min_count` or more. Hiding a count that many cells publish (a trust's runs, the denominator of
/// six shares) would make each of those cells' numerators a hidden count to protect in turn.
fn candidate(model: &Model, index: &Index, cells: &[Cell], f: &Finding, min_count: i64) -> Choice {
    let single_year = |r: usize| model.relations[r].terms.iter().all(|&(a, _)| !model.atoms[a].pooled());
    let known = |a: usize| index.same.get(&vec![a]).is_some_and(|ns| ns.iter().any(|&n| shown(model, cells, n)));
    let mut frontier: Vec<usize> = f.terms.iter().map(|&(a, _)| a).filter(|&a| !known(a)).collect();
    let mut visited: HashSet<usize> = frontier.iter().copied().collect();
    // (number, layer); layer 0: a number of one of the finding's own atoms (a count hidden here,
    // published elsewhere). A number of several atoms that names one is no candidate for that: its
    // other atoms may say nothing of the finding.
    let mut candidates: Vec<(usize, usize)> = Vec::new();
    // The served sums met, with their layer (the last resort: nothing shown is left to hide).
    let mut sums: Vec<(usize, usize)> = Vec::new();
    for &(a, _) in &f.terms {
        let single = index.numbers_of[a].iter().filter(|&&n| model.numbers[n].atoms == [a]);
        candidates.extend(single.map(|&n| (n, 0)));
    }
    let useful = |n: usize| {
        let number = &model.numbers[n];
        // A share of nothing (denominator 0) publishes nothing to hide.
        shown(model, cells, n) && !model.atoms[number.atoms[0]].pooled() && cells[number.cell].denominator != Some(0.0)
    };
    for layer in 1.. {
        let mut next = Vec::new();
        for &a in &frontier {
            // The relations that name it, and the sums served beside the cells (`data_quality`'s).
            let related = index.relations_of[a]
                .iter()
                .filter(|&&r| single_year(r))
                .map(|&r| model.relations[r].terms.iter().map(|&(b, _)| b).collect::<Vec<_>>())
                .chain(model.served.iter().filter(|s| s.atoms.contains(&a)).map(|s| s.atoms.clone()));
            for atoms in related {
                for b in atoms {
                    if known(b) {
                        let single = index.numbers_of[b].iter().filter(|&&n| model.numbers[n].atoms == [b]);
                        candidates.extend(single.map(|&n| (n, layer)));
                    } else if visited.insert(b) {
                        next.push(b);
                    }
                }
            }
            sums.extend(model.served.iter().enumerate().filter(|(_, s)| s.atoms.contains(&a)).map(|(i, _)| (i, layer)));
            // Shown numbers of several atoms that name it (`cancelled_share`'s runs + cancelled).
            let several = index.numbers_of[a].iter().filter(|&&n| model.numbers[n].atoms.len() > 1);
            candidates.extend(several.map(|&n| (n, layer)));
        }
        // Further out only while nothing near can be hidden.
        if next.is_empty() || (layer >= LAYERS && candidates.iter().any(|&(n, _)| useful(n))) {
            break;
        }
        frontier = next;
    }
    // A shown share of nothing (denominator 0) is hidden only where nothing else is left: its 0
    // can be all that pins a hidden count of 0 (`a_hidden_zero_beside_a_hidden_one_is_protected`).
    let of_nothing: Vec<(usize, usize)> = candidates
        .iter()
        .copied()
        .filter(|&(n, _)| shown(model, cells, n) && !model.atoms[model.numbers[n].atoms[0]].pooled())
        .collect();
    candidates.retain(|&(n, _)| useful(n));
    // Withholding a figure of `data_quality` hides no published cell: it goes first, at the same
    // distance (a nation's cancelled runs of 1–4 would otherwise hide its runs and every share over
    // them).
    let nearest = sums.iter().map(|&(_, layer)| layer).min();
    if let Some(nearest) = nearest
        && candidates.iter().all(|&(_, layer)| nearest <= layer)
    {
        let mut sums: Vec<usize> = sums.iter().filter(|&&(_, layer)| layer == nearest).map(|&(i, _)| i).collect();
        sums.sort_unstable();
        sums.dedup();
        return Choice::Withhold(sums);
    }
    if candidates.is_empty() {
        if of_nothing.is_empty() {
            return Choice::Withhold(Vec::new());
        }
        candidates = of_nothing;
    }
    // Each number at its nearest layer.
    candidates.sort_unstable();
    candidates.dedup_by_key(|&mut (n, _)| n);
    // How many shown cells hiding it hides: those publishing the same count, and its own.
    let cost = |n: usize| {
        let number = &model.numbers[n];
        let mut hit: Vec<usize> = match number.role {
            Role::Sum => vec![number.cell],
            _ => index
                .same
                .get(&number.atoms)
                .map(|s| s.iter().map(|&m| model.numbers[m].cell).collect())
                .unwrap_or_default(),
        };
        hit.push(number.cell);
        hit.sort_unstable();
        hit.dedup();
        hit.into_iter().filter(|&c| !cells[c].suppressed).count()
    };
    // A mean's sum is ranked by its responses.
    let count = |n: usize| {
        let number = &model.numbers[n];
        match number.role {
            Role::Sum => cells[number.cell].numerator as f64,
            _ => number.value,
        }
    };
    if tracing::enabled!(tracing::Level::TRACE) {
        for &(n, layer) in &candidates {
            tracing::trace!(
                candidate = %format!("{:?} of {}", model.numbers[n].role, describe(&cells[model.numbers[n].cell])),
                cost = cost(n),
                layer,
                value = count(n),
                "candidate"
            );
        }
    }
    candidates
        .into_iter()
        .min_by(|&(x, lx), &(y, ly)| {
            let key = |n: usize| {
                let v = count(n);
                let c = &cells[model.numbers[n].cell];
                (
                    cost(n),
                    v < min_count as f64,
                    if v >= min_count as f64 { v } else { -v },
                    c.key(),
                    model.numbers[n].role,
                )
            };
            let (a, b) = (key(x), key(y));
            a.0.cmp(&b.0)
                .then(lx.cmp(&ly))
                .then(a.1.cmp(&b.1))
                .then(a.2.total_cmp(&b.2))
                .then(a.3.cmp(&b.3))
                .then(a.4.cmp(&b.4))
        })
        .map_or(Choice::Withhold(Vec::new()), |(n, _)| Choice::Hide(n))
}

/// What [`candidate`] chose for an exposed count.
enum Choice {
    /// A shown number to hide.
    Hide(usize),
    /// Nothing shown is left in `indicator_values`: the served sums (indexes into the model's) that
    /// bound it, to withhold from `data_quality` (none: unprotectable).
    Withhold(Vec<usize>),
}

/// How far from an exposed count [`candidate`] looks.
const LAYERS: usize = 2;

/// A cell in words, for errors and the audit.
pub fn describe(c: &Cell) -> String {
    let mut s = format!("{} {} {}", c.indicator, c.period, c.level);
    for part in [&c.rhf, &c.hf].into_iter().flatten() {
        s.push(' ');
        s.push_str(part);
    }
    if !c.breakdown.is_empty() {
        s.push_str(&format!(" [{}]", c.breakdown));
    }
    s
}
