//! Disclosure control that holds against differencing (indicators.md, third edition): the attacks
//! of issue #28 tried on a demo publication with nothing but what is served, the relations of
//! `lms_queries::relations` checked against the true figures, the check on hand-made tables, and a
//! property test over random hierarchies with identities between indicators.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use lms_etl::{Etl, EtlOptions, Source};
use lms_queries::Level;
use lms_queries::protect::{self, Mode, Scope, What};
use lms_queries::publish::{BuildOptions, Published, build};
use lms_queries::relations::{Model, Role};
use lms_queries::suppress::{Cell, Reason};
use lms_queries::tables::indicator_values_schema;
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Reference, Rhf};
use proptest::prelude::*;

/// A demo publication of the four regions, 2022–2024 (so one pooled window), built once.
struct Demo {
    _dir: tempfile::TempDir,
    url: String,
    published: Published,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        // A runtime of its own: the tests that share the fixture run on runtimes of theirs.
        std::thread::spawn(|| tokio::runtime::Runtime::new().unwrap().block_on(build_demo())).join().unwrap()
    })
}

async fn build_demo() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let reference = Arc::new(Reference::embedded().unwrap());
    let options =
        lms_generate::Options { seed: 11, first_year: 2022, last_year: 2024, scale: 0.02, codes_of_2024: false };
    lms_generate::generate(&dir.path().join("in"), &options, &reference).unwrap();
    let url = format!("file://{}", dir.path().join("lake").display());
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let etl = Etl {
        lake: lms_lake::Lake::open(&url).unwrap(),
        reference,
        key: PseudonymKey::from_hex(&"05".repeat(32)).unwrap(),
        options: EtlOptions::default(),
        publisher: Some(Arc::new(lms_queries::IndicatorPublisher::new(lms_queries::publish::BuildOptions {
            min_count: 5,
            ..Default::default()
        }))),
    };
    let sources: Vec<Source> = Rhf::ALL
        .iter()
        .map(|rhf| {
            let path = dir.path().join("in").join(rhf.code());
            Source::new(&rhf.code().to_lowercase(), *rhf, None, &format!("file://{}", path.display())).unwrap()
        })
        .collect();
    etl.run(&sources).await.unwrap();
    let snapshot = etl.lake.snapshot().await.unwrap();
    let published = build(&etl.lake, &snapshot, &BuildOptions::default()).await.unwrap();
    assert_eq!(snapshot.digest.as_ref(), Some(&published.digest), "the committed publication is this build's");
    Demo { _dir: dir, url, published }
}

/// An attacker's session: the served `indicator_values` alone.
async fn served(p: &Published) -> SessionContext {
    let ctx = SessionContext::new();
    let table = MemTable::try_new(indicator_values_schema(), vec![p.indicator_values.clone()]).unwrap();
    ctx.register_table("indicator_values", Arc::new(table)).unwrap();
    ctx
}

async fn rows(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

fn count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Where the attacker reads one count, by definition (indicators.md), written out here rather than
/// taken from `relations::COUNTS`: (count, indicator, `numerator` or `denominator`).
const SAME_COUNT: &[(&str, &str, &str)] = &[
    ("a0099", "a0099_share", "numerator"),
    ("a0099", "a0099_of_education_share", "numerator"),
    ("a0099", "interpreter_share_education", "denominator"),
    ("a0099", "relatives_education_share", "denominator"),
    ("contacts", "a0099_share", "denominator"),
    ("contacts", "education_activity_share", "denominator"),
    ("contacts", "interpreter_share_all", "denominator"),
    ("education", "education_activity_share", "numerator"),
    ("education", "a0099_of_education_share", "denominator"),
    ("runs", "course_runs", "numerator"),
    ("runs", "priority_group_runs", "numerator"),
    ("runs", "digital_share", "denominator"),
    ("runs", "user_involvement_share", "denominator"),
    ("runs", "municipal_collaboration_share", "denominator"),
    ("runs", "interpreter_offered_share", "denominator"),
    ("participants", "participants", "numerator"),
    ("participants", "participants_per_10k", "numerator"),
    ("participants", "relatives_share", "denominator"),
    ("participants", "completion_rate", "denominator"),
    ("pairs", "pam_change", "numerator"),
    ("pairs", "pam_level_up_share", "denominator"),
    ("pairs", "pam_gain_share", "denominator"),
    ("residents", "education_contacts_rate", "numerator"),
    ("residents", "education_rate_by_sex", "numerator"),
    ("residents", "education_rate_by_size_class", "numerator"),
    ("residents", "sami_area_education_rate", "numerator"),
];

/// Attack 1, another indicator shows the hidden count: for each count, at each total cell's unit
/// and period, it is shown everywhere it is published or nowhere. (On the second edition's
/// publication of 2023–2024 at scale 0.05, `a0099_of_education_share` HSO/STHF 2024 was hidden and
/// `a0099_share` showed the same A0099 count.)
#[test]
fn a_hidden_count_is_hidden_in_every_indicator_that_publishes_it() {
    let p = &demo().published;
    runtime().block_on(async {
        let ctx = served(p).await;
        let values: Vec<String> = SAME_COUNT.iter().map(|(c, i, role)| format!("('{c}', '{i}', '{role}')")).collect();
        let sql = format!(
            "WITH map(count_name, indicator, role) AS (VALUES {}),
             published AS (
                 SELECT m.count_name, v.period, v.level, coalesce(v.rhf, '') AS rhf, coalesce(v.hf, '') AS hf,
                        CASE WHEN m.role = 'numerator' THEN v.numerator IS NOT NULL
                             ELSE v.denominator IS NOT NULL END AS shown
                 FROM indicator_values v JOIN map m ON m.indicator = v.indicator
                 WHERE v.breakdown = '' AND coalesce(v.suppression_reason, '') <> 'coverage'
             )
             SELECT count_name, period, level, rhf, hf FROM published
             GROUP BY count_name, period, level, rhf, hf
             HAVING bool_or(shown) AND NOT bool_and(shown)",
            values.join(", ")
        );
        let exposed = rows(&ctx, &sql).await;
        assert_eq!(count(&exposed), 0, "{}", lms_queries::format::table(&exposed));
        // The fixture hides counts that other indicators publish.
        let hidden = rows(
            &ctx,
            "SELECT 1 FROM indicator_values WHERE indicator = 'interpreter_share_education' AND denominator IS NULL \
             AND suppressed",
        )
        .await;
        assert!(count(&hidden) > 0, "some A0099 counts are hidden as a denominator too");
    });
}

/// Attack 2, the reason: what is served says only `disclosure` or `coverage` (a `complement` beside
/// a shown denominator gave the numerator away), and the legend lists those two.
#[test]
fn only_disclosure_and_coverage_are_served_as_reasons() {
    let p = &demo().published;
    runtime().block_on(async {
        let ctx = served(p).await;
        let reasons = rows(&ctx, "SELECT DISTINCT suppression_reason FROM indicator_values WHERE suppressed").await;
        let reasons: BTreeSet<String> = reasons
            .iter()
            .flat_map(|b| {
                let a = datafusion::arrow::compute::cast(b.column(0), &datafusion::arrow::datatypes::DataType::Utf8)
                    .unwrap();
                let a = a.as_any().downcast_ref::<datafusion::arrow::array::StringArray>().unwrap().clone();
                (0..a.len()).map(move |i| a.value(i).to_string()).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(reasons, BTreeSet::from(["disclosure".to_string()]), "the demo has every region's coverage");
    });
    // The finer reasons are recorded on the warehouse host.
    let reasons: BTreeSet<Reason> = p.cells.iter().filter_map(|c| c.reason.filter(|_| c.suppressed)).collect();
    assert!(reasons.contains(&Reason::Primary) && reasons.contains(&Reason::Secondary), "{reasons:?}");
    let legend: Vec<&str> = lms_queries::suppress::LEGEND.iter().map(|(r, _, _)| r.as_str()).collect();
    assert_eq!(legend, ["disclosure", "coverage"]);
}

/// Attack 3, small denominators: no share shows a denominator of 1–4 (at scale 0.01, 798 hidden
/// cells did, which bounds their numerators to 0–4).
#[test]
fn no_share_shows_a_denominator_of_one_to_four() {
    let p = &demo().published;
    runtime().block_on(async {
        let ctx = served(p).await;
        let shares: Vec<String> = lms_queries::catalogue::embedded()
            .iter()
            .filter(|i| i.unit == lms_queries::catalogue::Unit::Share)
            .map(|i| format!("'{}'", i.id))
            .collect();
        let sql = format!(
            "SELECT indicator, period, level, rhf, hf, breakdown, denominator FROM indicator_values
             WHERE indicator IN ({}) AND denominator >= 1 AND denominator <= 4",
            shares.join(", ")
        );
        let small = rows(&ctx, &sql).await;
        assert_eq!(count(&small), 0, "{}", lms_queries::format::table(&small));
    });
    let hidden_small = p.cells.iter().filter(|c| c.reason == Some(Reason::SmallDenominator)).count();
    assert!(hidden_small > 0, "the fixture has shares with denominators of 1–4");
}

/// Attack 4, sums: in no group of one indicator (a region and its HFs, the nation and its regions,
/// a total and its breakdown where the parts add up to it) is exactly one child hidden under a
/// shown parent with every other child shown; and `cancelled_share`'s shown denominator minus
/// `course_runs` never gives a hidden numerator.
#[test]
fn no_hidden_count_is_a_shown_parent_minus_shown_children() {
    let p = &demo().published;
    runtime().block_on(async {
        let ctx = served(p).await;
        let hierarchy = rows(
            &ctx,
            "WITH children AS (
                 SELECT c.indicator, c.period, c.breakdown, p.level AS parent_level, coalesce(p.rhf, '') AS parent,
                        count(*) FILTER (WHERE c.suppressed) AS hidden
                 FROM indicator_values c JOIN indicator_values p
                   ON p.indicator = c.indicator AND p.period = c.period AND p.breakdown = c.breakdown
                  AND ((c.level = 'hf' AND p.level = 'rhf' AND p.rhf = c.rhf)
                       OR (c.level = 'rhf' AND p.level = 'national'))
                 WHERE NOT p.suppressed AND c.indicator <> 'collaborating_municipalities'
                   AND c.indicator <> 'participants_per_10k'
                 GROUP BY c.indicator, c.period, c.breakdown, p.level, coalesce(p.rhf, '')
             )
             SELECT * FROM children WHERE hidden = 1",
        )
        .await;
        assert_eq!(count(&hierarchy), 0, "{}", lms_queries::format::table(&hierarchy));
        let cancelled = rows(
            &ctx,
            "SELECT c.period, c.level, c.rhf, c.hf, c.denominator - r.numerator AS worked_out
             FROM indicator_values c JOIN indicator_values r
               ON r.indicator = 'course_runs' AND r.period = c.period AND r.level = c.level
              AND coalesce(r.rhf, '') = coalesce(c.rhf, '') AND coalesce(r.hf, '') = coalesce(c.hf, '')
             WHERE c.indicator = 'cancelled_share' AND c.suppressed AND c.denominator IS NOT NULL
               AND r.numerator IS NOT NULL",
        )
        .await;
        assert_eq!(count(&cancelled), 0, "{}", lms_queries::format::table(&cancelled));
    });
}

/// Attack 5, everything at once: the linear-programming audit of the committed publication (what
/// `lms audit disclosure` runs) finds no hidden count narrower than 5, and checks them all.
#[test]
fn the_audit_of_the_demo_publication_finds_nothing_exposed() {
    let d = demo();
    runtime().block_on(async {
        let lake = lms_lake::Lake::open(&d.url).unwrap();
        let snapshot = lake.snapshot().await.unwrap();
        let audit = lms_queries::audit::audit(&lake, &snapshot, 5).await.unwrap();
        let exposed: Vec<_> = audit.counts.iter().filter(|c| c.exposed).collect();
        assert!(exposed.is_empty(), "{} exposed, e.g. {:?}", exposed.len(), exposed.first());
        assert_eq!(audit.hidden_for_disclosure, d.published.suppression.disclosure());
        assert!(audit.counts.len() >= audit.hidden_for_disclosure, "every hidden cell's numerator at least");
        assert!(audit.counts.iter().all(|c| c.low.is_none_or(|l| c.high.is_none_or(|h| h - l >= 5.0 - 1e-6))));
        // The finer reason rides along from the warehouse's own table.
        assert!(audit.counts.iter().any(|c| c.reason == Some("primary")));
    });
}

/// Every relation the check uses holds on the true figures of the demo publication, and every
/// number of one count has one value wherever it is published.
#[test]
fn every_relation_holds_on_the_demo_data() {
    let cells = &demo().published.cells;
    let model = Model::of(cells).unwrap();
    let mut values: Vec<Option<f64>> = vec![None; model.atoms.len()];
    for n in &model.numbers {
        if let [a] = n.atoms[..] {
            if let Some(v) = values[a] {
                assert!((v - n.value).abs() < 1e-6, "{}: {v} and {} ({:?})", model.atoms[a], n.value, n.role);
            }
            values[a] = Some(n.value);
        }
    }
    // Numbers of several atoms are their sums.
    for n in model.numbers.iter().filter(|n| n.atoms.len() > 1) {
        let sum: f64 = n.atoms.iter().map(|&a| values[a].unwrap()).sum();
        assert!((sum - n.value).abs() < 1e-6, "{}: {sum} ≠ {}", cells[n.cell].indicator, n.value);
    }
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unchecked = 0;
    for r in &model.relations {
        let Some(v) = r.terms.iter().map(|&(a, _)| values[a]).collect::<Option<Vec<f64>>>() else {
            unchecked += 1;
            continue;
        };
        let residual: f64 = r.terms.iter().zip(&v).map(|(&(_, c), x)| c * x).sum();
        let text = model.relation_text(r);
        if r.equal {
            assert!(residual.abs() < 1e-6, "{text}: off by {residual}");
        } else {
            assert!(residual < 1e-6, "{text}: above by {residual}");
        }
        *by_kind.entry(r.kind.as_str()).or_default() += 1;
    }
    // Each kind is there and checked; the only atoms without a value of their own are evaluation
    // responses of units without participants (`evaluation_coverage` publishes 0 there).
    for kind in ["hierarchy", "breakdown", "window", "score_range", "share_bound"] {
        assert!(by_kind.get(kind).copied().unwrap_or(0) > 0, "no {kind} relation checked: {by_kind:?}");
    }
    // The rows loaded that data_quality serves: a region's activity rows of a year are its runs and
    // cancelled runs, its coding rows its contacts; and the nation's the regions' sums.
    let snapshot = runtime().block_on(async { lms_lake::Lake::open(&demo().url).unwrap().snapshot().await.unwrap() });
    let mut sums: BTreeMap<(String, String, i32), u64> = BTreeMap::new();
    for (k, d) in &snapshot.periods {
        *sums.entry((k.rhf.clone(), k.extract.clone(), k.period[..4].parse().unwrap())).or_default() += d.rows_loaded;
    }
    let loaded: Vec<lms_queries::relations::RowsLoaded> = sums
        .into_iter()
        .map(|((rhf, extract, year), rows)| lms_queries::relations::RowsLoaded { rhf, extract, year, rows: Some(rows) })
        .collect();
    let served = Model::of(cells).unwrap().with_rows_loaded(&loaded).served;
    assert_eq!(served.len(), 3 * (4 + 1) * 2, "runs + cancelled and contacts, 3 years, 4 regions and the nation");
    for s in &served {
        let sum: f64 = s.atoms.iter().map(|&a| values[a].unwrap()).sum();
        assert_eq!(sum, s.value, "{}", model.atoms[s.atoms[0]]);
    }
    let without: BTreeSet<&str> =
        values.iter().zip(&model.atoms).filter(|(v, _)| v.is_none()).map(|(_, a)| a.measure).collect();
    assert!(without.iter().all(|m| *m == "etter"), "{without:?}");
    assert!(unchecked < model.relations.len() / 20, "{unchecked} of {} unchecked", model.relations.len());
}

fn cell(indicator: &str, level: Level, rhf: Option<&str>, hf: Option<&str>, n: i64, d: Option<f64>) -> Cell {
    let unit = lms_queries::catalogue::embedded().iter().find(|i| i.id == indicator).unwrap().unit;
    Cell::shown(indicator, 2024, level, rhf, hf, n, d, unit == lms_queries::catalogue::Unit::Share)
}

fn hidden(mut c: Cell) -> Cell {
    (c.suppressed, c.reason) = (true, Some(Reason::Primary));
    c
}

/// The exact intervals of the hidden counts of `cells`, by (cell, what).
fn intervals(cells: &[Cell]) -> BTreeMap<(usize, What), (f64, f64)> {
    let model = Model::of(cells).unwrap();
    let check = protect::check(&model, cells, 5, Scope::All, Mode::Exact, &mut HashSet::new()).unwrap();
    check.findings.iter().map(|f| ((f.cell, f.what), (f.low, f.high))).collect()
}

/// The check finds exposures planted by hand, with the interval worked out here.
#[test]
fn the_check_finds_an_exposure_planted_by_hand() {
    use Level::*;
    // Region 15 = A 3 (hidden) + B 12 (shown): A is 15 − 12 = 3 exactly.
    let runs = |hf, n| cell("course_runs", Hf, Some("R"), Some(hf), n, None);
    let cells = vec![cell("course_runs", Rhf, Some("R"), None, 15, None), hidden(runs("A", 3)), runs("B", 12)];
    assert_eq!(intervals(&cells)[&(1, What::Numerator)], (3.0, 3.0));
    // B hidden too: A and B are each anywhere in [0, 15].
    let cells = vec![cell("course_runs", Rhf, Some("R"), None, 15, None), hidden(runs("A", 3)), hidden(runs("B", 12))];
    let i = intervals(&cells);
    assert_eq!((i[&(1, What::Numerator)], i[&(2, What::Numerator)]), ((0.0, 15.0), (0.0, 15.0)));

    // One count, two indicators: A0099 hidden in a0099_of_education_share (3 of 40 education
    // contacts) and shown by a0099_share (3 of 200 contacts) at the same unit.
    let cells = vec![
        hidden(cell("a0099_of_education_share", Hf, Some("R"), Some("A"), 3, Some(40.0))),
        cell("a0099_share", Hf, Some("R"), Some("A"), 3, Some(200.0)),
    ];
    let i = intervals(&cells);
    assert_eq!(i[&(0, What::Numerator)], (3.0, 3.0));
    assert_eq!(i[&(0, What::Complement)], (37.0, 37.0), "40 − 3");

    // cancelled_share: 3 cancelled of 20 (runs + cancelled), and course_runs shows the 17 runs.
    let cells = vec![
        hidden(cell("cancelled_share", Hf, Some("R"), Some("A"), 3, Some(20.0))),
        cell("course_runs", Hf, Some("R"), Some("A"), 17, None),
    ];
    assert_eq!(intervals(&cells)[&(0, What::Numerator)], (3.0, 3.0));
    // Without course_runs the 3 lies anywhere in [0, 20].
    assert_eq!(intervals(&cells[..1])[&(0, What::Numerator)], (0.0, 20.0));

    // A share's complement: 97 of 100 (complement 3) in a region of two HFs, the other shown.
    let share = |hf, n, d| cell("relatives_share", Hf, Some("R"), Some(hf), n, Some(d));
    let cells = vec![
        cell("relatives_share", Rhf, Some("R"), None, 137, Some(150.0)),
        hidden(share("A", 97, 100.0)),
        share("B", 40, 50.0),
    ];
    let i = intervals(&cells);
    assert_eq!((i[&(1, What::Numerator)], i[&(1, What::Complement)]), ((97.0, 97.0), (3.0, 3.0)));
    // Distinct municipalities: the region (10) lies between its largest HF and their sum, so a
    // hidden HF of 3 beside a shown 8 is anywhere in [2, 10].
    let m = |hf, n| cell("collaborating_municipalities", Hf, Some("R"), Some(hf), n, None);
    let cells =
        vec![cell("collaborating_municipalities", Rhf, Some("R"), None, 10, None), hidden(m("A", 3)), m("B", 8)];
    assert_eq!(intervals(&cells)[&(1, What::Numerator)], (2.0, 10.0));
}

/// `data_quality`'s rows loaded are served too: a region's activity rows of a year are its runs
/// plus its cancelled runs, so beside `course_runs` they give a hidden `cancelled_share` numerator
/// away even where its denominator is hidden.
#[test]
fn the_rows_loaded_data_quality_serves_are_in_the_check() {
    use Level::*;
    let mut cancelled = hidden(cell("cancelled_share", Rhf, Some("R"), None, 3, Some(20.0)));
    cancelled.denominator_suppressed = true;
    let cells = vec![cancelled, cell("course_runs", Rhf, Some("R"), None, 17, None)];
    let model = Model::of(&cells).unwrap();
    let bound = |model: &Model| {
        let check = protect::check(model, &cells, 5, Scope::All, Mode::Exact, &mut HashSet::new()).unwrap();
        let f = check.findings.iter().find(|f| f.cell == 0 && f.what == What::Numerator).unwrap();
        (f.low, f.high)
    };
    assert_eq!(bound(&model), (0.0, f64::INFINITY), "without the rows: anything");
    let loaded =
        lms_queries::relations::RowsLoaded { rhf: "R".into(), extract: "activity".into(), year: 2024, rows: Some(20) };
    assert_eq!(
        bound(&Model::of(&cells).unwrap().with_rows_loaded(std::slice::from_ref(&loaded))),
        (3.0, 3.0),
        "20 − 17"
    );
    // Protection withholds the rows from data_quality rather than hide the runs (and every share
    // over them): that hides no published cell.
    let mut cells = cells.clone();
    let report = protect::protect(&mut cells, 5, std::slice::from_ref(&loaded)).unwrap();
    assert!(!cells[1].suppressed, "{cells:#?}");
    assert_eq!(report.rows_withheld, [0]);
    // Of two regions' rows, whose sum is the nation's, the smaller region's go, and the nation's
    // sum with them; the other region's rows stay (its cancelled runs, 0, are shown).
    let mut cells = vec![
        hidden(cell("cancelled_share", National, None, None, 3, Some(100.0))),
        cell("course_runs", National, None, None, 97, None),
        cell("cancelled_share", Rhf, Some("R"), None, 0, Some(70.0)),
        cell("course_runs", Rhf, Some("R"), None, 70, None),
        hidden(cell("cancelled_share", Rhf, Some("S"), None, 3, Some(30.0))),
        cell("course_runs", Rhf, Some("S"), None, 27, None),
    ];
    let rows = |rhf: &str, n| lms_queries::relations::RowsLoaded {
        rhf: rhf.into(),
        extract: "activity".into(),
        year: 2024,
        rows: Some(n),
    };
    let report = protect::protect(&mut cells, 5, &[rows("R", 70), rows("S", 30)]).unwrap();
    assert!(cells.iter().skip(1).step_by(2).all(|c| !c.suppressed), "{cells:#?}");
    assert_eq!(report.rows_withheld, [1], "S's 30 rows");
}

/// [`protect::protect`] hides what the hand-made cases expose, and the cancelled runs by the
/// denominator of their own (already hidden) cell, not by hiding the runs everywhere.
#[test]
fn protection_hides_the_fewest_cells_that_close_each_exposure() {
    use Level::*;
    let mut cells = vec![
        cell("cancelled_share", Hf, Some("R"), Some("A"), 3, Some(20.0)),
        cell("course_runs", Hf, Some("R"), Some("A"), 17, None),
        cell("digital_share", Hf, Some("R"), Some("A"), 9, Some(17.0)),
    ];
    let report = protect::protect(&mut cells, 5, &[]).unwrap();
    assert!(cells[0].suppressed && cells[0].denominator_suppressed, "the denominator 20 is hidden with its cell");
    assert!(!cells[1].suppressed && !cells[2].suppressed, "the runs stay shown");
    assert_eq!((report.primary, report.secondary, report.secondary_protection), (1, 0, 0), "{report:?}");
    assert_eq!(cells[0].reason, Some(Reason::Primary));

    // a0099_of_education_share hides 3 A0099 contacts: a0099_share, interpreter_share_education and
    // relatives_education_share hide them too (one count, one fate), and those two cells whole.
    let mut cells = vec![
        cell("a0099_of_education_share", Hf, Some("R"), Some("A"), 3, Some(40.0)),
        cell("a0099_share", Hf, Some("R"), Some("A"), 3, Some(200.0)),
        cell("interpreter_share_education", Hf, Some("R"), Some("A"), 0, Some(3.0)),
        cell("relatives_education_share", Hf, Some("R"), Some("A"), 0, Some(3.0)),
        cell("education_activity_share", Hf, Some("R"), Some("A"), 40, Some(200.0)),
    ];
    protect::protect(&mut cells, 5, &[]).unwrap();
    assert!(cells[..4].iter().all(|c| c.suppressed), "{cells:#?}");
    assert!(cells[2].denominator_suppressed && cells[3].denominator_suppressed);
    assert!(!cells[4].suppressed, "the education contacts and contacts stay shown");
    let model = Model::of(&cells).unwrap();
    let check = protect::check(&model, &cells, 5, Scope::All, Mode::Exact, &mut HashSet::new()).unwrap();
    assert!(check.findings.iter().all(|f| !f.exposed(5)));
}

/// A random coding and activity table of 1–3 regions of 1–3 HFs, the counts of each HF drawn small,
/// every parent the sum of its children: the cells of ten indicators that publish the same counts.
#[derive(Clone, Debug)]
struct Hf {
    /// Per service area: (contacts, A0099 of them, education beyond A0099).
    coding: [(i64, i64, i64); 3],
    /// A0099 contacts with an interpreter, to relatives (each at most the A0099 contacts).
    interpreter: i64,
    relatives: i64,
    /// Runs per format (fysisk, digital, hybrid) and cancelled runs.
    formats: [i64; 3],
    cancelled: i64,
}

fn small() -> BoxedStrategy<i64> {
    prop_oneof![4 => 0..4i64, 2 => 0..9i64, 1 => 0..30i64].boxed()
}

fn hf() -> BoxedStrategy<Hf> {
    (prop::array::uniform3((small(), small(), small())), small(), small(), prop::array::uniform3(small()), small())
        .prop_map(|(coding, interpreter, relatives, formats, cancelled)| {
            // A0099 ≤ contacts in each area; education = A0099 + more, within contacts.
            let coding = coding.map(|(c, a, e)| {
                let contacts = c + a + e;
                (contacts, a, e)
            });
            let a0099: i64 = coding.iter().map(|x| x.1).sum();
            Hf { coding, interpreter: interpreter.min(a0099), relatives: relatives.min(a0099), formats, cancelled }
        })
        .boxed()
}

fn tables() -> BoxedStrategy<Vec<Vec<Hf>>> {
    prop::collection::vec(prop::collection::vec(hf(), 1..=3), 1..=3).boxed()
}

/// The cells of every level for the drawn HFs.
fn cells_of(regions: &[Vec<Hf>]) -> Vec<Cell> {
    let mut out = Vec::new();
    let mut unit = |level: Level, rhf: Option<String>, hf: Option<String>, hfs: &[&Hf]| {
        let s = |f: &dyn Fn(&Hf) -> i64| hfs.iter().map(|h| f(h)).sum::<i64>();
        let area = |i: usize| (s(&|h| h.coding[i].0), s(&|h| h.coding[i].1));
        let contacts = s(&|h| h.coding.iter().map(|x| x.0).sum());
        let a0099 = s(&|h| h.coding.iter().map(|x| x.1).sum());
        let education = s(&|h| h.coding.iter().map(|x| x.1 + x.2).sum());
        let formats: Vec<i64> = (0..3).map(|i| s(&|h| h.formats[i])).collect();
        let runs: i64 = formats.iter().sum();
        let cancelled = s(&|h| h.cancelled);
        let mk = |indicator: &str, breakdown: &str, n: i64, d: Option<f64>| {
            let mut c = cell(indicator, level, rhf.as_deref(), hf.as_deref(), n, d);
            c.breakdown = breakdown.into();
            c.value = match d {
                Some(d) if d > 0.0 => Some(n as f64 / d),
                Some(_) => None,
                None => Some(n as f64),
            };
            c
        };
        let f = |x: i64| Some(x as f64);
        out.push(mk("a0099_share", "", a0099, f(contacts)));
        for (i, t) in ["somatikk", "psykisk_helse", "rus"].iter().enumerate() {
            let (c, a) = area(i);
            out.push(mk("a0099_share", &format!("tjenesteomrade={t}"), a, f(c)));
        }
        out.push(mk("education_activity_share", "", education, f(contacts)));
        out.push(mk("a0099_of_education_share", "", a0099, f(education)));
        out.push(mk("interpreter_share_education", "", s(&|h| h.interpreter), f(a0099)));
        out.push(mk("relatives_education_share", "", s(&|h| h.relatives), f(a0099)));
        out.push(mk("course_runs", "", runs, None));
        out.push(mk("cancelled_share", "", cancelled, f(runs + cancelled)));
        out.push(mk("digital_share", "", formats[1] + formats[2], f(runs)));
        for (i, v) in ["fysisk", "digital", "hybrid"].iter().enumerate() {
            out.push(mk("digital_share", &format!("format={v}"), formats[i], f(runs)));
        }
    };
    let all: Vec<&Hf> = regions.iter().flatten().collect();
    unit(Level::National, None, None, &all);
    for (r, hfs) in regions.iter().enumerate() {
        let rhf = format!("R{r}");
        unit(Level::Rhf, Some(rhf.clone()), None, &hfs.iter().collect::<Vec<_>>());
        for (h, x) in hfs.iter().enumerate() {
            unit(Level::Hf, Some(rhf.clone()), Some(format!("{rhf}H{h}")), &[x]);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// After protection the exact check finds nothing exposed; nothing small is shown; every count
    /// is shown everywhere it is published or nowhere; shown cells keep their figures.
    #[test]
    fn after_protection_nothing_is_exposed(regions in tables()) {
        let original = cells_of(&regions);
        let mut cells = original.clone();
        let report = protect::protect(&mut cells, 5, &[]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let model = Model::of(&cells).unwrap();
        let check = protect::check(&model, &cells, 5, Scope::All, Mode::Exact, &mut HashSet::new()).unwrap();
        for f in &check.findings {
            prop_assert!(!f.exposed(5), "{} of cell {:?}: [{}, {}]", f.what.as_str(), cells[f.cell], f.low, f.high);
        }
        prop_assert_eq!(report.disclosure(), cells.iter().filter(|c| c.suppressed).count());
        let small = |n: f64| (1.0..5.0).contains(&n);
        for c in cells.iter().filter(|c| !c.suppressed) {
            prop_assert!(!small(c.numerator as f64), "shown small numerator {:?}", c);
            if let (true, Some(d)) = (c.share, c.denominator) {
                prop_assert!(!small(d) && (d == 0.0 || !small(d - c.numerator as f64)), "shown small share {:?}", c);
            }
        }
        let mut shown_by_count: BTreeMap<&[usize], BTreeSet<bool>> = BTreeMap::new();
        for n in model.numbers.iter().filter(|n| n.role != Role::Sum) {
            let c = &cells[n.cell];
            let shown = match n.role { Role::Denominator => !c.denominator_suppressed, _ => !c.suppressed };
            shown_by_count.entry(&n.atoms).or_default().insert(shown);
        }
        prop_assert!(shown_by_count.values().all(|s| s.len() == 1), "a count both shown and hidden");
        for (a, b) in original.iter().zip(&cells) {
            prop_assert_eq!((a.numerator, a.denominator, a.value), (b.numerator, b.denominator, b.value));
        }
    }
}

/// A case the property test found: a hidden 0 beside a hidden 1 in a region whose runs the nation
/// and the other region give away.
#[test]
fn a_hidden_zero_beside_a_hidden_one_is_protected() {
    let hf = |formats: [i64; 3]| Hf { coding: [(0, 0, 0); 3], interpreter: 0, relatives: 0, formats, cancelled: 0 };
    let regions = vec![vec![hf([0, 5, 0]), hf([0, 3, 2])], vec![hf([0, 1, 0]), hf([0, 0, 0])]];
    let mut cells = cells_of(&regions);
    protect::protect(&mut cells, 5, &[]).unwrap();
    let model = Model::of(&cells).unwrap();
    let check = protect::check(&model, &cells, 5, Scope::All, Mode::Exact, &mut HashSet::new()).unwrap();
    assert!(check.findings.iter().all(|f| !f.exposed(5)));
}
