//! The procedure: primary suppression, one count one fate, the check and secondary suppression
//! until nothing is exposed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::check::*;
use super::finding::*;
use crate::relations::{Model, RelationKind, Role, RowsLoaded};
use crate::suppress::{self, Cell, Reason, Suppression, hide};

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
