//! Every indicator on a hand-made fixture: a few course runs, contacts and responses from two regions,
//! loaded through the real ETL, and a population small enough to follow by hand. The expected values
//! are worked out here from the definitions in indicators.md — counted from the fixture's rows in
//! the comments, or for the standardised rates computed by the formula over the fixture population —
//! never read from the program's output.

use std::sync::Arc;

use chrono::NaiveDate;
use lms_etl::{Etl, EtlOptions, Source};
use lms_queries::publish::{BuildOptions, Published, build, build_within};
use lms_queries::suppress::{Cell, Reason};
use lms_queries::{Access, Level, Warehouse};
use lms_schemas::identity::{PseudonymKey, synthetic_number};
use lms_schemas::{Reference, Rhf};

const ACTIVITY: &str = "rhf,hf,kurs_id,tittel,diagnosegruppe,malgruppe,prioritert_gruppe,format,sprak,tolk_tilbudt,samarbeid_kommune,bruker_planlegging,bruker_gjennomforing,bruker_evaluering,startdato,sluttdato,samlinger,timer,deltakere_pasient,deltakere_parorende,fullfort,avlyst";
const CODING: &str = "rhf,hf,kontakt_id,fodselsnummer,bostedskommune,bydel,kontaktdato,omsorgsniva,tjenesteomrade,hovedtilstand,kontakttype,prosedyrekoder,saerkoder,gruppe,tolk";
const EVALUATION: &str =
    "rhf,hf,kurs_id,svar_id,deltaker,rolle,maletidspunkt,dato,pam_score,pam_niva,tilfredshet,nytte,anbefale";

/// Course runs, March 2024. r3 is cancelled; SUN has no catchment area.
const RUNS: [&str; 6] = [
    "HSO,VV,K1,Diabetes,diabetes,pasient,barn_unge,digital,nb,1,3301,1,1,1,2024-03-04,2024-03-04,2,8.5,8,2,9,0",
    "HSO,VV,K2,Hjerte,hjerte_kar,pasient,ingen,fysisk,se,0,3301,1,1,0,2024-03-05,2024-03-05,2,8,5,0,5,0",
    "HSO,VV,K3,Lunge,lunge,pasient,ingen,hybrid,nb,0,,0,0,0,2024-03-06,2024-03-06,2,8,0,0,0,1",
    "HSO,AHUS,K1,Kreft,kreft,begge,flere_kroniske,fysisk,sma,0,3205,1,1,1,2024-03-07,2024-03-07,2,8,10,3,12,0",
    "HSO,SUN,K9,Rehabilitering,nevrologi,pasient,ingen,fysisk,nb,0,,1,1,1,2024-03-08,2024-03-08,2,8,6,1,7,0",
    "HV,HBE,K1,Rus,rus,pasient,psykisk_rus,digital,en,1,4601,0,1,1,2024-03-09,2024-03-09,2,8,4,0,3,0",
];

/// Persons: (birth date, individual number — odd is male), with sex and age group in March 2024.
const PERSONS: [(&str, u32); 6] = [
    ("1950-05-05", 101), // P1 M 73: 60-79
    ("1990-01-10", 102), // P2 F 34: 20-39
    ("1940-02-02", 104), // P3 F 84: 80+
    ("1935-01-01", 103), // P4 M 89: 80+
    ("2010-06-06", 502), // P5 F 13: 0-19
    ("1980-07-07", 105), // P6 M 43: 40-59
];

/// Contacts, March 2024: (rhf, hf, id, person, bostedskommune, bydel, date, tjenesteomrade,
/// kontakttype, prosedyrekoder, saerkoder, tolk).
type Contact = (
    &'static str,
    &'static str,
    &'static str,
    usize,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);
#[rustfmt::skip]
const CONTACTS: [Contact; 13] = [
    ("HSO", "VV", "c1", 0, "3301", "", "2024-03-04", "somatikk", "1", "", "A0099", "0"),
    ("HSO", "VV", "c2", 0, "3301", "", "2024-03-11", "somatikk", "1", "ZWWA40", "A0099", "0"),
    ("HSO", "VV", "c12A", 1, "3320", "", "2024-03-01", "psykisk_helse", "1", "", "A0099", "1"),
    ("HSO", "AHUS", "c4", 4, "3205", "", "2024-03-06", "rus", "13", "", "", "0"),
    ("HSO", "AHUS", "c5", 5, "3205", "", "2024-03-07", "somatikk", "1", "WPCK00", "", "0"),
    ("HSO", "AHUS", "c6", 5, "9999", "", "2024-03-08", "somatikk", "1", "", "", "0"),
    ("HSO", "LDS", "c7", 2, "0301", "030101", "2024-03-12", "somatikk", "1", "", "A0099", "0"),
    ("HSO", "LDS", "c8", 3, "0301", "030101", "2024-03-13", "somatikk", "1", "", "A0099", "0"),
    ("HSO", "LDS", "c9", 5, "0301", "030105", "2024-03-14", "somatikk", "1", "", "A0099", "1"),
    ("HSO", "LDS", "c10", 1, "0301", "", "2024-03-15", "somatikk", "1", "", "A0099", "0"),
    ("HSO", "VV", "c11", 4, "5025", "", "2024-03-18", "somatikk", "1", "", "A0099", "0"),
    ("HV", "HBE", "c12", 1, "4601", "", "2024-03-01", "somatikk", "1", "", "A0099", "0"),
    ("HV", "HBE", "c13", 0, "4601", "", "2024-03-20", "somatikk", "1", "", "", "1"),
];

/// Evaluation responses, March 2024 (all at HSO).
const RESPONSES: [&str; 11] = [
    "HSO,VV,K1,S1,D1,pasient,for,2024-03-04,45.0,,,,",
    "HSO,VV,K1,S2,D1,pasient,for,2024-03-05,47.1,,,,",
    "HSO,VV,K1,S3,D1,pasient,etter,2024-03-20,50.1,,5,4,1",
    "HSO,VV,K1,S4,D2,parorende,for,2024-03-04,60.0,,,,",
    "HSO,VV,K1,S7,D2,parorende,etter,2024-03-19,75.0,,4,5,1",
    "HSO,VV,K1,S7-,D2,parorende,etter,2024-03-19,72.5,,3,3,0",
    "HSO,VV,K2,S8,,pasient,etter,2024-03-21,80.0,,2,,",
    "HSO,AHUS,K1,S1,D1,pasient,for,2024-03-06,40.0,,,,",
    "HSO,AHUS,K1,S2,D3,pasient,etter,2024-03-22,,,5,5,1",
    "HSO,AHUS,K77,S3,D4,pasient,etter,2024-03-22,,,4,3,1",
    "HSO,DIAK,K5,S1,D9,pasient,etter,2024-03-23,,,4,4,1",
];

/// The fixture's areas: (area, catchment hf, its rhf, size class, Sami area, base) — population of
/// a stratum is base × [5, 6, 5, 4, 1] by age group, +7 for women; Gamle Oslo has no men of 80+.
const AREAS: [(&str, &str, &str, u8, bool, u64); 7] = [
    ("3301", "VV", "HSO", 1, false, 1000),
    ("3320", "VV", "HSO", 4, false, 50),
    ("3205", "AHUS", "HSO", 1, false, 800),
    ("030101", "LDS", "HSO", 1, false, 300),
    ("030105", "DIAK", "HSO", 1, false, 400),
    ("4601", "HBE", "HV", 1, false, 1500),
    ("5025", "STO", "HMN", 3, true, 60),
];
const AGES: [&str; 5] = ["0-19", "20-39", "40-59", "60-79", "80+"];

fn population(area: &str, sex: &str, age: &str) -> f64 {
    let (_, _, _, _, _, base) = AREAS.iter().find(|a| a.0 == area).unwrap();
    if area == "030101" && sex == "M" && age == "80+" {
        return 0.0;
    }
    let mult = [5, 6, 5, 4, 1][AGES.iter().position(|a| *a == age).unwrap()];
    (base * mult + if sex == "F" { 7 } else { 0 }) as f64
}

fn population_csv() -> String {
    let mut out = String::from("year,area,sex,age_group,population\n");
    for (area, ..) in AREAS {
        for sex in ["F", "M"] {
            for age in AGES {
                out += &format!("2024,{area},{sex},{age},{}\n", population(area, sex, age));
            }
        }
    }
    out
}

/// Writes the rows as a delivery in the region's dialect (HSO: `,`, ISO dates; HV: `;`,
/// DD.MM.YYYY, decimal comma, CRLF).
fn write(dir: &std::path::Path, rhf: &str, extract: &str, header: &str, rows: &[String]) {
    let dir = dir.join(rhf);
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    for line in std::iter::once(header.to_string()).chain(rows.iter().cloned()) {
        if rhf == "HV" {
            let fields: Vec<String> = line
                .split(',')
                .map(|f| match NaiveDate::parse_from_str(f, "%Y-%m-%d") {
                    Ok(d) => d.format("%d.%m.%Y").to_string(),
                    Err(_) if f.contains('.') && f.parse::<f64>().is_ok() => f.replace('.', ","),
                    Err(_) => f.to_string(),
                })
                .collect();
            text += &fields.join(";");
            text += "\r\n";
        } else {
            text += &line;
            text += "\n";
        }
    }
    std::fs::write(dir.join(format!("{rhf}_{extract}_2024-03.csv")), text).unwrap();
}

fn identity(p: usize) -> String {
    let (birth, individual) = PERSONS[p];
    let birth = NaiveDate::parse_from_str(birth, "%Y-%m-%d").unwrap();
    // The first individual number of the same parity with valid check digits.
    (0..50).find_map(|k| synthetic_number(birth, individual + 2 * k, false)).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    lake: lms_etl::Lake,
    snapshot: lms_etl::Snapshot,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("in");
    let rows = |rhf: &str, all: &[&str]| -> Vec<String> {
        all.iter().filter(|r| r.starts_with(&format!("{rhf},"))).map(|r| r.to_string()).collect()
    };
    let contacts = |rhf: &str| -> Vec<String> {
        CONTACTS
            .iter()
            .filter(|c| c.0 == rhf)
            .map(|c| {
                let (r, hf, id, p, kommune, bydel, date, area, kt, proc, saer, tolk) = *c;
                format!(
                    "{r},{hf},{id},{},{kommune},{bydel},{date},poliklinikk,{area},E11,{kt},{proc},{saer},0,{tolk}",
                    identity(p)
                )
            })
            .collect()
    };
    for rhf in ["HSO", "HV"] {
        write(&incoming, rhf, "activity", ACTIVITY, &rows(rhf, &RUNS));
        write(&incoming, rhf, "coding", CODING, &contacts(rhf));
    }
    write(&incoming, "HSO", "evaluation", EVALUATION, &rows("HSO", &RESPONSES));

    let lake_dir = dir.path().join("lake");
    std::fs::create_dir_all(&lake_dir).unwrap();
    let url = format!("file://{}", lake_dir.display());
    let etl = Etl {
        lake: lms_lake::Lake::open(&url).unwrap(),
        reference: Arc::new(Reference::embedded().unwrap()),
        key: PseudonymKey::from_hex(&"02".repeat(32)).unwrap(),
        options: EtlOptions::default(),
        publisher: None,
    };
    let sources: Vec<Source> = [("hso", Rhf::Hso), ("hv", Rhf::Hv)]
        .into_iter()
        .map(|(name, rhf)| {
            let path = incoming.join(rhf.code());
            Source::new(name, rhf, None, &format!("file://{}", path.display())).unwrap()
        })
        .collect();
    let report = etl.run(&sources).await.unwrap();
    for d in &report.deliveries {
        assert_eq!((d.status.name(), d.rows_rejected), ("loaded", 0), "the fixture is clean: {d:?}");
    }
    assert_eq!(report.deliveries.iter().map(|d| d.rows_loaded).sum::<u64>(), 6 + 13 + 11);
    let snapshot = etl.lake.snapshot().await.unwrap();
    Fixture { _dir: dir, lake: etl.lake, snapshot }
}

/// The fixture's tables without the coverage rule: it holds March 2024 only, so every region's
/// coverage is 1/3 or 0 (`coverage_withholds_regions_that_delivered_too_few_months` checks it).
async fn published(f: &Fixture, min_count: i64) -> Published {
    published_with(f, min_count, 0.0).await
}

async fn published_with(f: &Fixture, min_count: i64, min_coverage: f64) -> Published {
    let pop = population_csv();
    let reference = vec![("population".to_string(), pop.clone())];
    let options = BuildOptions { min_count, reference: reference.clone(), min_coverage, ..BuildOptions::default() };
    build(&f.lake, &f.snapshot, &options).await.unwrap()
}

/// Looks cells up by (indicator, level, unit code, breakdown).
struct Cells<'a>(&'a [Cell]);

impl Cells<'_> {
    fn get(&self, id: &str, level: Level, unit: &str, breakdown: &str) -> Option<&Cell> {
        self.0.iter().find(|c| {
            c.indicator == id
                && c.year == 2024
                && c.level == level
                && c.breakdown == breakdown
                && match level {
                    Level::National => true,
                    Level::Rhf => c.rhf.as_deref() == Some(unit),
                    Level::Hf => c.hf.as_deref() == Some(unit),
                }
        })
    }

    fn cell(&self, id: &str, level: Level, unit: &str, breakdown: &str) -> &Cell {
        self.get(id, level, unit, breakdown).unwrap_or_else(|| panic!("no cell {id} {level} {unit} {breakdown}"))
    }

    /// Asserts numerator, denominator and value.
    #[allow(clippy::too_many_arguments)] // the cell's key and its three figures, as the table reads
    fn check(
        &self,
        id: &str,
        level: Level,
        unit: &str,
        breakdown: &str,
        num: i64,
        den: Option<f64>,
        value: Option<f64>,
    ) {
        let c = self.cell(id, level, unit, breakdown);
        let what = format!("{id} {level} {unit} {breakdown}");
        assert_eq!(c.numerator, num, "numerator of {what}");
        assert_eq!(c.denominator, den, "denominator of {what}");
        match (c.value, value) {
            (Some(a), Some(b)) => assert!(close(a, b), "value of {what}: {a} ≠ {b}"),
            (a, b) => assert_eq!(a, b, "value of {what}"),
        }
    }

    /// Asserts a share n / d.
    fn share(&self, id: &str, level: Level, unit: &str, breakdown: &str, n: i64, d: i64) {
        let v = (d > 0).then(|| n as f64 / d as f64);
        self.check(id, level, unit, breakdown, n, Some(d as f64), v);
        // The Wilson interval, written out (indicators.md, "Intervals"), at 95 % and 99.8 %.
        let c = self.cell(id, level, unit, breakdown);
        for (z, low, high) in [(1.959964, c.ci_low, c.ci_high), (3.090232, c.ci99_low, c.ci99_high)] {
            if d == 0 {
                assert_eq!((low, high), (None, None), "no interval without a denominator: {id} {unit}");
                continue;
            }
            let (p, n, z2) = (n as f64 / d as f64, d as f64, z * z);
            let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
            let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
            let (want_low, want_high) = ((centre - half).max(0.0), (centre + half).min(1.0));
            let (low, high) = (low.unwrap(), high.unwrap());
            assert!((low - want_low).abs() < 1e-12, "{id} {unit} z={z}: low {low} ≠ {want_low}");
            assert!((high - want_high).abs() < 1e-12, "{id} {unit} z={z}: high {high} ≠ {want_high}");
        }
    }

    /// Asserts a count.
    fn count(&self, id: &str, level: Level, unit: &str, breakdown: &str, n: i64) {
        self.check(id, level, unit, breakdown, n, None, Some(n as f64));
    }

    /// The units with a total cell of an indicator at a level.
    fn units(&self, id: &str, level: Level) -> Vec<String> {
        let mut u: Vec<String> = self
            .0
            .iter()
            .filter(|c| c.indicator == id && c.level == level && c.breakdown.is_empty())
            .map(|c| match level {
                Level::National => "national".to_string(),
                Level::Rhf => c.rhf.clone().unwrap(),
                Level::Hf => c.hf.clone().unwrap(),
            })
            .collect();
        u.sort();
        u
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300)
}

use Level::{Hf, National, Rhf as Region};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn course_activity() {
    let f = fixture().await;
    let p = published(&f, 1).await;
    let c = Cells(&p.cells);
    // Runs not cancelled: r1 r2 (VV), r4 (AHUS), r5 (SUN), r6 (HBE); r3 is cancelled.
    c.count("course_runs", National, "", "", 5);
    c.count("course_runs", Region, "HSO", "", 4);
    c.count("course_runs", Region, "HV", "", 1);
    c.count("course_runs", Hf, "VV", "", 2);
    c.count("course_runs", Hf, "SUN", "", 1);
    assert_eq!(c.units("course_runs", Hf), ["AHUS", "HBE", "SUN", "VV"]);
    // Participants: VV 8+2 + 5+0 = 15, AHUS 13, SUN 7, HBE 4.
    c.count("participants", National, "", "", 39);
    c.count("participants", Region, "HSO", "", 35);
    c.count("participants", Hf, "AHUS", "", 13);
    // Per 10 000 of the catchment population; SUN has no catchment (no cell), but counts for HSO.
    let pop = |areas: &[&str]| -> f64 {
        areas.iter().flat_map(|a| ["F", "M"].map(|s| AGES.map(|g| population(a, s, g)).iter().sum::<f64>())).sum()
    };
    let vv = pop(&["3301", "3320"]);
    let hso = pop(&["3301", "3320", "3205", "030101", "030105"]);
    let all = pop(&AREAS.map(|a| a.0));
    c.check("participants_per_10k", Hf, "VV", "", 15, Some(vv), Some(15.0 / vv * 10_000.0));
    c.check("participants_per_10k", Region, "HSO", "", 35, Some(hso), Some(35.0 / hso * 10_000.0));
    c.check("participants_per_10k", National, "", "", 39, Some(all), Some(39.0 / all * 10_000.0));
    assert!(c.get("participants_per_10k", Hf, "SUN", "").is_none());
    // Relatives 2 + 3 + 1 of 39; completed 9 + 5 + 12 + 7 + 3 of 39.
    c.share("relatives_share", National, "", "", 6, 39);
    c.share("completion_rate", National, "", "", 36, 39);
    c.share("completion_rate", Hf, "AHUS", "", 12, 13);
    // Digital or hybrid: r1, r6 of 5; by format the runs of the format of all 5 (r3, hybrid, is cancelled).
    c.share("digital_share", National, "", "", 2, 5);
    c.share("digital_share", National, "", "format=digital", 2, 5);
    c.share("digital_share", National, "", "format=fysisk", 3, 5);
    c.share("digital_share", National, "", "format=hybrid", 0, 5);
    c.share("digital_share", Hf, "VV", "format=digital", 1, 2);
    // All three user roles: r1, r4, r5; HBE's r6 lacks planning.
    c.share("user_involvement_share", National, "", "", 3, 5);
    c.share("user_involvement_share", Region, "HV", "", 0, 1);
    // With a municipality: r1 r2 (3301), r4 (3205), r6 (4601); r5 has none.
    c.share("municipal_collaboration_share", National, "", "", 4, 5);
    c.count("collaborating_municipalities", National, "", "", 3);
    c.count("collaborating_municipalities", Region, "HSO", "", 2);
    c.count("collaborating_municipalities", Hf, "SUN", "", 0);
    // Priority groups: every value has a cell, 0 included.
    c.count("priority_group_runs", National, "", "", 5);
    c.count("priority_group_runs", National, "", "prioritert_gruppe=ingen", 2);
    c.count("priority_group_runs", National, "", "prioritert_gruppe=barn_unge", 1);
    c.count("priority_group_runs", National, "", "prioritert_gruppe=skropelige_eldre", 0);
    // Sami languages: r2 (se), r4 (sma).
    c.count("sami_language_runs", National, "", "", 2);
    c.count("sami_language_runs", National, "", "sprak=se", 1);
    c.count("sami_language_runs", National, "", "sprak=smj", 0);
    c.count("sami_language_runs", Hf, "AHUS", "sprak=sma", 1);
    c.share("interpreter_offered_share", National, "", "", 2, 5);
    // Cancelled: r3 of 6 rows (5 runs + 1 cancelled); VV 1 of 3.
    c.share("cancelled_share", National, "", "", 1, 6);
    c.share("cancelled_share", Hf, "VV", "", 1, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coding_practice() {
    let f = fixture().await;
    let p = published(&f, 1).await;
    let c = Cells(&p.cells);
    // A0099: c1 c2 c12A c7 c8 c9 c10 c11 c12 of 13 contacts; HSO 8 of 11; LDS 4 of 4; HBE 1 of 2.
    c.share("a0099_share", National, "", "", 9, 13);
    c.share("a0099_share", Region, "HSO", "", 8, 11);
    c.share("a0099_share", Hf, "LDS", "", 4, 4);
    c.share("a0099_share", Hf, "AHUS", "", 0, 3);
    c.share("a0099_share", Hf, "HBE", "", 1, 2);
    // By service area: somatikk 8 of 11, psykisk_helse (c12A) 1 of 1, rus (c4) 0 of 1; a service
    // area without contacts at a unit has a cell with denominator 0 and no value.
    c.share("a0099_share", National, "", "tjenesteomrade=somatikk", 8, 11);
    c.share("a0099_share", National, "", "tjenesteomrade=psykisk_helse", 1, 1);
    c.share("a0099_share", National, "", "tjenesteomrade=rus", 0, 1);
    c.check("a0099_share", Hf, "LDS", "tjenesteomrade=rus", 0, Some(0.0), None);
    // Education: the 9 A0099, c4 (kontakttype 13), c5 (WPCK00).
    c.share("education_activity_share", National, "", "", 11, 13);
    c.share("a0099_of_education_share", National, "", "", 9, 11);
    c.share("a0099_of_education_share", Hf, "AHUS", "", 0, 2);
    // Relatives (ZWWA40) among A0099: c2.
    c.share("relatives_education_share", National, "", "", 1, 9);
    // Interpreter: c12A c9 among A0099; c12A c9 c13 among all.
    c.share("interpreter_share_education", National, "", "", 2, 9);
    c.share("interpreter_share_all", National, "", "", 3, 13);
    c.share("interpreter_share_all", Region, "HV", "", 1, 2);
}

/// The standardised rate of a unit by the definition: strata (sex, age group), weights from the
/// national population, events d_s and inhabitants n_s of the unit. Returns (rate, low, high, Σd, Σn).
fn standardised(events: &[(&str, &str, &str)], areas: &[&str], by_age_only: Option<&str>) -> (f64, f64, f64, i64, f64) {
    let total: f64 = AREAS.iter().flat_map(|a| ["F", "M"].map(|s| AGES.map(|g| population(a.0, s, g)))).flatten().sum();
    let mut rate = 0.0;
    let mut variance = 0.0;
    let mut w_max = 0.0_f64;
    let mut d_sum = 0;
    let mut n_sum = 0.0;
    let sexes: Vec<&str> = match by_age_only {
        Some(s) => vec![s],
        None => vec!["F", "M"],
    };
    for sex in sexes {
        for age in AGES {
            let w = match by_age_only {
                // Per sex: the national share of the age group, both sexes.
                Some(_) => {
                    AREAS.iter().map(|a| population(a.0, "F", age) + population(a.0, "M", age)).sum::<f64>() / total
                }
                None => AREAS.iter().map(|a| population(a.0, sex, age)).sum::<f64>() / total,
            };
            let n: f64 = areas.iter().map(|a| population(a, sex, age)).sum();
            let d = events.iter().filter(|e| areas.contains(&e.0) && e.1 == sex && e.2 == age).count();
            d_sum += d as i64;
            n_sum += n;
            if n > 0.0 {
                rate += w * d as f64 / n;
                variance += w * w * d as f64 / (n * n);
                w_max = w_max.max(w / n);
            }
        }
    }
    // Fay–Feuer, as indicators.md writes it (the χ² quantiles are checked in `intervals.rs`).
    let (y, v) = (rate, variance);
    let q = lms_queries::interval::chi2_quantile;
    let low = if y > 0.0 { v / (2.0 * y) * q(0.025, 2.0 * y * y / v) } else { 0.0 };
    let (vw, yw) = (v + w_max * w_max, y + w_max);
    let high = vw / (2.0 * yw) * q(0.975, 2.0 * yw * yw / vw);
    (1000.0 * rate, 1000.0 * low, 1000.0 * high, d_sum, n_sum)
}

/// A0099 contacts with a known home: (area, sex, age group). c10 (Oslo without district) is left out.
const EVENTS: [(&str, &str, &str); 8] = [
    ("3301", "M", "60-79"),   // c1
    ("3301", "M", "60-79"),   // c2
    ("3320", "F", "20-39"),   // c12A
    ("030101", "F", "80+"),   // c7, Gamle Oslo → LDS
    ("030101", "M", "80+"),   // c8, a stratum without inhabitants
    ("030105", "M", "40-59"), // c9, Frogner → DIAK although LDS gave it
    ("5025", "F", "0-19"),    // c11, Røros → STO (HMN), Sami area
    ("4601", "F", "20-39"),   // c12
];

/// Persons by their first A0099 contact of the year: P2's is c12 (1 March, Bergen), not c12A (1 March
/// too, Flå): on the same day the lower kontakt_id comes first, as text (an id before its
/// extensions: "c12" < "c12A"), before the region ("HSO" < "HV") would have a say. (An id simply
/// followed by the region would compare "c12HV" with "c12AHSO" and pick Flå.)
const PERSON_EVENTS: [(&str, &str, &str); 6] = [
    ("3301", "M", "60-79"),   // P1: c1
    ("4601", "F", "20-39"),   // P2: c12
    ("030101", "F", "80+"),   // P3: c7
    ("030101", "M", "80+"),   // P4: c8
    ("030105", "M", "40-59"), // P6: c9
    ("5025", "F", "0-19"),    // P5: c11
];

fn check_rate(c: &Cells, id: &str, level: Level, unit: &str, breakdown: &str, expected: (f64, f64, f64, i64, f64)) {
    let cell = c.cell(id, level, unit, breakdown);
    let what = format!("{id} {level} {unit} {breakdown}");
    let (rate, low, high, d, n) = expected;
    assert_eq!(cell.numerator, d, "Σd of {what}");
    assert_eq!(cell.denominator, Some(n), "Σn of {what}");
    assert!(close(cell.value.unwrap(), rate), "{what}: {:?} ≠ {rate}", cell.value);
    assert!(close(cell.ci_low.unwrap(), low), "{what} low: {:?} ≠ {low}", cell.ci_low);
    assert!(close(cell.ci_high.unwrap(), high), "{what} high: {:?} ≠ {high}", cell.ci_high);
}

fn catchment(hf: &str) -> Vec<&'static str> {
    AREAS.iter().filter(|a| a.1 == hf).map(|a| a.0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standardised_rates_and_variation() {
    let f = fixture().await;
    let p = published(&f, 1).await;
    let c = Cells(&p.cells);
    let all: Vec<&str> = AREAS.iter().map(|a| a.0).collect();
    let hso: Vec<&str> = AREAS.iter().filter(|a| a.2 == "HSO").map(|a| a.0).collect();
    let id = "education_contacts_rate";
    check_rate(&c, id, National, "", "", standardised(&EVENTS, &all, None));
    check_rate(&c, id, Region, "HSO", "", standardised(&EVENTS, &hso, None));
    // LDS: c8 falls in a stratum of no inhabitants: counted in Σd, not in the rate.
    let lds = standardised(&EVENTS, &["030101"], None);
    assert_eq!(lds.3, 2);
    check_rate(&c, id, Hf, "LDS", "", lds);
    // Oslo districts: c9 counts for DIAK (Frogner), not LDS (which gave it).
    check_rate(&c, id, Hf, "DIAK", "", standardised(&EVENTS, &["030105"], None));
    // A catchment with inhabitants and no events: rate 0, interval [0, 0]; every catchment has a cell.
    check_rate(&c, id, Hf, "AHUS", "", standardised(&EVENTS, &["3205"], None));
    assert_eq!(c.units(id, Hf), ["AHUS", "DIAK", "HBE", "LDS", "STO", "VV"]);
    assert_eq!(c.units(id, Region), ["HMN", "HSO", "HV"]);

    let id = "education_persons_rate";
    check_rate(&c, id, National, "", "", standardised(&PERSON_EVENTS, &all, None));
    check_rate(&c, id, Hf, "VV", "", standardised(&PERSON_EVENTS, &catchment("VV"), None));
    check_rate(&c, id, Hf, "HBE", "", standardised(&PERSON_EVENTS, &["4601"], None));

    // Size class 4 is Flå (c12A); class 3 Røros (c11).
    let id = "education_rate_by_size_class";
    check_rate(&c, id, National, "", "size_class=4", standardised(&EVENTS, &["3320"], None));
    check_rate(&c, id, National, "", "size_class=3", standardised(&EVENTS, &["5025"], None));
    let class1: Vec<&str> = AREAS.iter().filter(|a| a.3 == 1 && a.2 == "HSO").map(|a| a.0).collect();
    check_rate(&c, id, Region, "HSO", "size_class=1", standardised(&EVENTS, &class1, None));
    assert!(c.get(id, Region, "HSO", "size_class=3").is_none(), "HSO has no residents in class 3");
    assert!(c.units(id, Hf).is_empty(), "national and rhf only");

    let id = "education_rate_by_sex";
    check_rate(&c, id, National, "", "sex=F", standardised(&EVENTS, &all, Some("F")));
    check_rate(&c, id, National, "", "sex=M", standardised(&EVENTS, &all, Some("M")));
    check_rate(&c, id, Hf, "VV", "sex=M", standardised(&EVENTS, &catchment("VV"), Some("M")));
    check_rate(&c, id, National, "", "", standardised(&EVENTS, &all, None));

    let id = "sami_area_education_rate";
    let other: Vec<&str> = AREAS.iter().filter(|a| !a.4).map(|a| a.0).collect();
    check_rate(&c, id, National, "", "area=sami", standardised(&EVENTS, &["5025"], None));
    check_rate(&c, id, National, "", "area=other", standardised(&EVENTS, &other, None));
    check_rate(&c, id, Region, "HMN", "area=sami", standardised(&EVENTS, &["5025"], None));
    assert!(c.get(id, Region, "HSO", "area=sami").is_none(), "no Sami-area residents in HSO's catchments");
    assert!(c.get(id, Region, "HMN", "area=other").is_none(), "HMN's only fixture area is Røros");

    // Variation over the six catchment areas, from the rates worked out above.
    for (id, events) in [("education_contacts_rate", &EVENTS[..]), ("education_persons_rate", &PERSON_EVENTS[..])] {
        let hfs = ["AHUS", "DIAK", "HBE", "LDS", "STO", "VV"];
        let mut rates: Vec<f64> = hfs.iter().map(|h| standardised(events, &catchment(h), None).0).collect();
        rates.sort_by(f64::total_cmp);
        let k = rates.len() as f64;
        let mean = rates.iter().sum::<f64>() / k;
        let sd = (rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
        // scv: O_i observed, E_i = Σ_s n_is · D_s / N_s with national stratum events and inhabitants.
        let mut scv = 0.0;
        for h in hfs {
            let areas = catchment(h);
            let o = events.iter().filter(|e| areas.contains(&e.0)).count() as f64;
            let mut e = 0.0;
            for sex in ["F", "M"] {
                for age in AGES {
                    let d = events.iter().filter(|x| x.1 == sex && x.2 == age).count() as f64;
                    let n: f64 = AREAS.iter().map(|a| population(a.0, sex, age)).sum();
                    e += areas.iter().map(|a| population(a, sex, age)).sum::<f64>() * d / n;
                }
            }
            scv += (o - e).powi(2) / (e * e) - 1.0 / e;
        }
        let scv = 100.0 * scv / k;
        let batch = datafusion::arrow::compute::concat_batches(&p.variation[0].schema(), &p.variation).unwrap();
        let row = (0..batch.num_rows())
            .find(|&i| {
                let ids = batch.column(0).as_any().downcast_ref::<datafusion::arrow::array::StringArray>().unwrap();
                ids.value(i) == id
            })
            .unwrap();
        let get = |name: &str| -> Option<f64> {
            let a = batch.column_by_name(name).unwrap();
            let a = a.as_any().downcast_ref::<datafusion::arrow::array::Float64Array>().unwrap();
            (!a.is_null(row)).then(|| a.value(row))
        };
        use datafusion::arrow::array::Array;
        let areas = batch.column_by_name("areas").unwrap();
        assert_eq!(areas.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap().value(row), 6);
        assert_eq!(rates[0], 0.0, "{id}: AHUS has no events");
        assert_eq!(get("ratio"), None, "{id}: the lowest rate is 0, so FT1 has no value");
        assert!(close(get("max").unwrap(), rates[5]));
        assert!(close(get("ratio2").unwrap(), rates[4] / rates[1]), "{id} ratio2");
        assert!(close(get("ratio3").unwrap(), rates[3] / rates[2]), "{id} ratio3");
        assert!(close(get("cv").unwrap(), 100.0 * sd / mean), "{id} cv");
        let got = get("scv").unwrap();
        assert!((got - scv).abs() <= 1e-9 * scv.abs(), "{id} scv {got} ≠ {scv}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluations() {
    let f = fixture().await;
    let p = published(&f, 1).await;
    let c = Cells(&p.cells);
    // Latest-response rule: D1's `for` is S2 (47.1, 5 March), not S1; D2's `etter` is S7- (72.5),
    // which beats S7 on the same date by the greater svar_id (an id sorts before its extensions; an
    // id simply followed by the answers would compare "S7-07251331" with "S707501451" and keep S7).
    // Pairs at VV: D1 47.1 → 50.1 (+3.0), D2 60.0 → 72.5 (+12.5). S8 has no deltaker and never
    // pairs; AHUS's D1 has no `etter`.
    let (a, b) = (3.0_f64, 12.5_f64);
    let mean = (a + b) / 2.0;
    let sd = (((a - mean).powi(2) + (b - mean).powi(2)) / 1.0).sqrt();
    let half = 1.959964 * sd / 2.0_f64.sqrt();
    for (level, unit) in [(National, ""), (Region, "HSO"), (Hf, "VV")] {
        c.check("pam_change", level, unit, "", 2, None, Some(mean));
        let cell = c.cell("pam_change", level, unit, "");
        assert!(close(cell.ci_low.unwrap(), mean - half) && close(cell.ci_high.unwrap(), mean + half));
    }
    c.check("pam_change", Hf, "AHUS", "", 0, None, None);
    // Levels: D1 2 → 2, D2 3 → 4 (72.5 > 72.4).
    c.share("pam_level_up_share", Hf, "VV", "", 1, 2);
    // Gain ≥ 3.0 in tenths: D1 501 − 471 = 30 (in binary floating point 50.1 − 47.1 < 3), D2 125.
    c.share("pam_gain_share", Hf, "VV", "", 2, 2);
    // Low activation among `for` responses with a score: VV S2 (47.1, level 2) and S4 (60.0, level 3);
    // AHUS S1 (40.0, level 1).
    c.share("pam_low_activation_share", Hf, "VV", "", 1, 2);
    c.share("pam_low_activation_share", National, "", "", 2, 3);
    // `etter` after the rule: VV S3 (5), S7- (3), S8 (2); AHUS S2 (5), S3 (4); DIAK S1 (4). S7 is dropped.
    c.check("satisfaction_mean", Hf, "VV", "", 3, None, Some(10.0 / 3.0));
    c.check("satisfaction_mean", National, "", "", 6, None, Some(23.0 / 6.0));
    c.check("usefulness_mean", Hf, "VV", "", 2, None, Some(3.5));
    c.check("usefulness_mean", National, "", "", 5, None, Some(19.0 / 5.0));
    c.share("recommend_share", Hf, "VV", "", 1, 2);
    c.share("recommend_share", National, "", "", 4, 5);
    // Coverage: `etter` responses over the participants of the unit's runs in the year. DIAK has
    // responses and no runs: denominator 0, so numerator 0 and no value.
    c.share("evaluation_coverage", Hf, "VV", "", 3, 15);
    c.share("evaluation_coverage", Hf, "AHUS", "", 2, 13);
    c.share("evaluation_coverage", Hf, "DIAK", "", 0, 0);
    c.share("evaluation_coverage", Region, "HSO", "", 6, 35);
    c.share("evaluation_coverage", National, "", "", 6, 39);
    // DIAK has evaluation rows, so every evaluation indicator has a cell there, pairs or not.
    c.check("pam_change", Hf, "DIAK", "", 0, None, None);
    c.check("pam_low_activation_share", Hf, "DIAK", "", 0, Some(0.0), None);
    assert!(c.get("evaluation_coverage", Region, "HV", "").is_none(), "HV delivered no evaluations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disclosure_control_on_the_published_table() {
    let f = fixture().await;
    let p = published(&f, 5).await;
    let c = Cells(&p.cells);
    // course_runs: national 5, HSO 4 (primary), HV 1 (primary); VV 2, AHUS 1, SUN 1, HBE 1 (primary).
    assert!(c.cell("course_runs", Region, "HSO", "").suppressed);
    assert!(c.cell("course_runs", Hf, "VV", "").suppressed);
    // data_quality serves each region's activity rows of the year, runs + cancelled runs: HSO 5,
    // HV 1, 6 in all. Beside the hidden national cancelled_share (1 of 6), the shown national
    // course_runs of 5 would give 6 − 5 = 1 cancelled, and HV's 1 row its hidden runs and cancelled
    // runs; its 2 coding rows are its hidden contacts (a0099_share HV, 1 of 2). Disclosure control
    // withholds HV's rows from data_quality (the smaller region's: the nation's sum goes with
    // them) rather than hide the nation's runs: that hides no published cell.
    assert!(!c.cell("course_runs", National, "", "").suppressed);
    use datafusion::arrow::array::AsArray;
    let dq = datafusion::arrow::compute::concat_batches(&p.data_quality[0].schema(), &p.data_quality).unwrap();
    let (rhf, extract) = (dq.column_by_name("rhf").unwrap().as_string::<i32>(), dq.column_by_name("extract").unwrap());
    let extract = extract.as_string::<i32>();
    let delivery = dq.column_by_name("delivery").unwrap();
    let loaded = dq.column_by_name("rows_loaded").unwrap();
    let read = dq.column_by_name("rows_read").unwrap();
    let mut withheld = std::collections::BTreeSet::new();
    for i in (0..dq.num_rows()).filter(|&i| delivery.is_valid(i)) {
        assert_eq!(loaded.is_null(i), read.is_null(i), "{} {}", rhf.value(i), extract.value(i));
        if loaded.is_null(i) {
            withheld.insert((rhf.value(i).to_string(), extract.value(i).to_string()));
        }
    }
    assert!(withheld.contains(&("HV".into(), "activity".into())), "{withheld:?}");
    assert!(withheld.contains(&("HV".into(), "coding".into())), "{withheld:?}");
    assert_eq!(withheld.len(), p.suppression.rows_withheld.len(), "each region and extract of 2024 once");
    // A share is hidden when its complement is small: a0099_share national 9 of 13 (complement 4).
    assert!(c.cell("a0099_share", National, "", "").suppressed);
    // Cells with denominator 0 are never suppressed.
    assert!(!c.cell("a0099_share", Hf, "LDS", "tjenesteomrade=rus").suppressed);
    // What is written withholds the figures of suppressed cells but keeps the denominator.
    let w = Warehouse::at(&f.lake, &f.snapshot, Access::Published).await.unwrap();
    assert_eq!(w.version(), f.snapshot.version);
    use datafusion::arrow::array::{Array, Float64Array, Int64Array};
    let batch =
        datafusion::arrow::compute::concat_batches(&p.indicator_values[0].schema(), &p.indicator_values).unwrap();
    let suppressed = batch.column_by_name("suppressed").unwrap();
    let suppressed = suppressed.as_any().downcast_ref::<datafusion::arrow::array::BooleanArray>().unwrap();
    let numerator = batch.column_by_name("numerator").unwrap();
    let numerator = numerator.as_any().downcast_ref::<Int64Array>().unwrap();
    let value = batch.column_by_name("value").unwrap();
    let value = value.as_any().downcast_ref::<Float64Array>().unwrap();
    let mut hidden = 0;
    for i in 0..batch.num_rows() {
        if suppressed.value(i) {
            hidden += 1;
            assert!(numerator.is_null(i) && value.is_null(i));
        } else {
            assert!(!(1..5).contains(&numerator.value(i)), "row {i}: a published numerator of 1–4");
        }
    }
    assert_eq!(hidden, p.cells.iter().filter(|c| c.suppressed).count());
    assert_eq!(hidden, p.suppression.disclosure());
    // Each hidden cell says why: course_runs HSO (4) for its numerator, a0099_share national
    // (complement 4) for its complement, and the rest as the rule's rounds chose them.
    assert_eq!(c.cell("course_runs", Region, "HSO", "").reason, Some(Reason::Primary));
    assert_eq!(c.cell("a0099_share", National, "", "").reason, Some(Reason::Complement));
    let by = |r: Reason| p.cells.iter().filter(|c| c.reason == Some(r)).count();
    assert_eq!(by(Reason::Primary), p.suppression.primary);
    assert_eq!(by(Reason::Complement), p.suppression.complement);
    assert_eq!(by(Reason::SmallDenominator), p.suppression.small_denominator);
    assert_eq!(by(Reason::Shared), p.suppression.shared);
    assert_eq!(by(Reason::Secondary), p.suppression.secondary);
    assert!(p.suppression.secondary > 0, "the fixture has secondary suppression");
    assert_eq!(by(Reason::Coverage), 0, "coverage is not applied here");
    let reason = batch.column_by_name("suppression_reason").unwrap();
    let reason = reason.as_any().downcast_ref::<datafusion::arrow::array::StringArray>().unwrap();
    for i in 0..batch.num_rows() {
        assert_eq!(suppressed.value(i), reason.is_valid(i), "row {i}: a reason exactly where hidden");
        // Served: only `disclosure` (coverage is not applied here), never the finer reason.
        assert!(reason.is_null(i) || reason.value(i) == "disclosure", "row {i}: {}", reason.value(i));
    }
}

/// Coverage (indicators.md, "Coverage"): months delivered ÷ months up to the newest any region
/// delivered, per region, extract and year; worked out by hand.
#[test]
fn coverage_counts_months_up_to_the_newest_any_region_delivered() {
    let delivered = [
        ("HSO", "coding", "2024-01"),
        ("HSO", "coding", "2024-02"),
        ("HSO", "coding", "2024-03"),
        ("HSO", "coding", "2024-04"),
        ("HV", "coding", "2024-01"),
        ("HV", "coding", "2024-04"),
        ("HV", "activity", "2024-02"),
        ("HMN", "coding", "2023-12"),
    ];
    let c = lms_queries::publish::coverage_of(delivered.into_iter());
    let get = |rhf: &str, extract: &str, year: i32| c.get(&(rhf.to_string(), extract.to_string(), year)).copied();
    // Coding 2024 runs to April: HSO 4/4, HV 2/4, HMN and HN nothing.
    assert_eq!(get("HSO", "coding", 2024), Some(1.0));
    assert_eq!(get("HV", "coding", 2024), Some(0.5));
    assert_eq!(get("HMN", "coding", 2024), Some(0.0));
    assert_eq!(get("HN", "coding", 2024), Some(0.0));
    // Activity 2024 runs to February (its own extract): HV 1/2.
    assert_eq!(get("HV", "activity", 2024), Some(0.5));
    assert_eq!(get("HSO", "activity", 2024), Some(0.0));
    // Coding 2023: December is the newest, so 1/12 for HMN.
    assert_eq!(get("HMN", "coding", 2023), Some(1.0 / 12.0));
    assert_eq!(get("HSO", "evaluation", 2024), None, "nobody delivered evaluations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_withholds_regions_that_delivered_too_few_months() {
    let f = fixture().await;
    // Threshold 1 suppresses nothing for disclosure; coverage 0.75 withholds every region's cells:
    // the fixture delivers March 2024 only (1/3 for HSO and HV, 0 for HMN and HN).
    let p = published_with(&f, 1, 0.75).await;
    let c = Cells(&p.cells);
    assert_eq!((p.suppression.primary, p.suppression.secondary), (0, 0));
    let hso = c.cell("course_runs", Region, "HSO", "");
    assert!(hso.suppressed);
    assert_eq!((hso.reason, hso.coverage), (Some(Reason::Coverage), Some(1.0 / 3.0)));
    let vv = c.cell("a0099_share", Hf, "VV", "");
    assert_eq!((vv.suppressed, vv.reason, vv.coverage), (true, Some(Reason::Coverage), Some(1.0 / 3.0)));
    // The nation is shown, with the lowest region's coverage (HMN and HN delivered nothing).
    let nation = c.cell("course_runs", National, "", "");
    assert_eq!((nation.suppressed, nation.reason, nation.coverage), (false, None, Some(0.0)));
    assert_eq!(nation.numerator, 5);
    let regional = p.cells.iter().filter(|c| c.level != National).count();
    assert_eq!(p.suppression.coverage, regional, "every region and trust cell withheld");
    assert!(p.cells.iter().filter(|c| c.level != National).all(|c| c.reason == Some(Reason::Coverage)));
    // data_quality carries the figures: HSO's coding row 1/3.
    let text = String::from_utf8(lms_queries::format::csv(&p.data_quality)).unwrap();
    let hso_coding = text.lines().find(|l| l.starts_with("hso,") && l.contains(",coding,")).unwrap();
    assert!(hso_coding.ends_with(&format!(",{},,,,", 1.0_f64 / 3.0)), "{hso_coding}");
    // And the publication's own rows: per indicator and period the cells, none hidden for
    // disclosure (threshold 1) and every region and trust cell for coverage.
    let course_runs = text.lines().find(|l| l.starts_with("publication,") && l.contains(",course_runs,")).unwrap();
    let cells = p.cells.iter().filter(|c| c.indicator == "course_runs").count();
    let withheld =
        p.cells.iter().filter(|c| c.indicator == "course_runs" && c.reason == Some(Reason::Coverage)).count();
    assert!(course_runs.ends_with(&format!(",course_runs,{cells},0,{withheld}")), "{course_runs}");
    assert!(course_runs.starts_with("publication,,activity,2024,"), "{course_runs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_quality_counts_unknown_residence_and_dangling_evaluations() {
    let f = fixture().await;
    let p = published(&f, 5).await;
    let text = String::from_utf8(lms_queries::format::csv(&p.data_quality)).unwrap();
    // HSO: c6 (9999) and c10 (Oslo without district); HV none. K77 at AHUS and K5 at DIAK have no
    // course run.
    let line = |source: &str, extract: &str| {
        text.lines().find(|l| l.starts_with(&format!("{source},")) && l.contains(&format!(",{extract},"))).unwrap()
    };
    // residence_unknown, residence_mapped_by_share (no split code in the fixture), dangling_evaluations.
    // Then coverage: March of the year up to March, 1/3.
    let third = format!("{}", 1.0_f64 / 3.0);
    // (The four columns of the publication's own rows are empty on a delivery's.)
    assert!(line("hso", "coding").ends_with(&format!(",2,0,,{third},,,,")), "{}", line("hso", "coding"));
    assert!(line("hv", "coding").ends_with(&format!(",0,0,,{third},,,,")), "{}", line("hv", "coding"));
    assert!(line("hso", "evaluation").ends_with(&format!(",,,2,{third},,,,")), "{}", line("hso", "evaluation"));
    assert!(line("hso", "coding").contains(",11,11,0,"), "read, loaded, rejected: {}", line("hso", "coding"));
    // HSO's 5 activity rows are withheld by disclosure control at min_count 5
    // (`disclosure_control_on_the_published_table`); the rows rejected stay.
    assert!(line("hso", "activity").contains(",0,,,0,"), "read, loaded, rejected: {}", line("hso", "activity"));
}

/// Every indicator of the catalogue has cells on the fixture, at exactly the levels its header
/// declares, with breakdowns named as its header declares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_indicator_has_the_cells_its_header_declares() {
    let f = fixture().await;
    let p = published(&f, 5).await;
    for i in lms_queries::catalogue::embedded() {
        let cells: Vec<&Cell> = p.cells.iter().filter(|c| c.indicator == i.id).collect();
        let mut levels: Vec<Level> = cells.iter().map(|c| c.level).collect();
        levels.sort();
        levels.dedup();
        let mut declared = i.levels.clone();
        declared.sort();
        assert_eq!(levels, declared, "{}: levels", i.id);
        let mut names: Vec<&str> =
            cells.iter().filter(|c| !c.breakdown.is_empty()).map(|c| c.breakdown.split('=').next().unwrap()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names, i.breakdowns, "{}: breakdowns", i.id);
        for c in &cells {
            match c.level {
                Level::National => assert!(c.rhf.is_none() && c.hf.is_none()),
                Level::Rhf => assert!(c.rhf.is_some() && c.hf.is_none()),
                Level::Hf => assert!(c.rhf.is_some() && c.hf.is_some()),
            }
        }
    }
}

/// A build that does not fit its memory limit runs again without one: the load it belongs to is
/// committed with the same figures a build without a limit gives. (No pool at all fits in 0 bytes:
/// the first aggregation fails, so the fallback is what this exercises.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_over_its_memory_limit_runs_again_without_one() {
    let f = fixture().await;
    let pop = population_csv();
    let reference = vec![("population".to_string(), pop.clone())];
    let options = |memory_limit| BuildOptions {
        min_count: 1,
        reference: reference.clone(),
        memory_limit,
        ..BuildOptions::default()
    };
    let e = build_within(&f.lake, &f.snapshot, &options(Some(0))).await.unwrap_err();
    assert!(e.to_string().contains("Resources exhausted"), "{e}");
    let unlimited = build(&f.lake, &f.snapshot, &options(None)).await.unwrap();
    let fallback = build(&f.lake, &f.snapshot, &options(Some(0))).await.unwrap();
    // The same cells, in whatever order the plan emitted them, with sums of fractions equal up
    // to their order of addition.
    let sorted = |p: Published| {
        let mut cells = p.cells;
        cells.sort_by(|a, b| a.key().cmp(&b.key()));
        cells
    };
    let (unlimited, fallback) = (sorted(unlimited), sorted(fallback));
    assert!(!unlimited.is_empty());
    assert_eq!(fallback.len(), unlimited.len());
    let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => close(a, b),
        (a, b) => a == b,
    };
    for (f, u) in fallback.iter().zip(&unlimited) {
        let what = format!("{:?}", u.key());
        assert_eq!(f.key(), u.key());
        assert_eq!((f.numerator, f.suppressed), (u.numerator, u.suppressed), "{what}");
        assert!(same(f.denominator, u.denominator) && same(f.value, u.value), "{what}: {f:?} ≠ {u:?}");
        assert!(same(f.ci_low, u.ci_low) && same(f.ci_high, u.ci_high), "{what}: {f:?} ≠ {u:?}");
    }
}
