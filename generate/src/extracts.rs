//! Rows of the three extracts, drawn from the world: contacts of residents by age, sex and home;
//! course runs by catchment size; questionnaire responses around each run.

use chrono::{Datelike, Duration, NaiveDate};
use lms_schemas::Period;
use lms_schemas::dialect::Rhf;
use lms_schemas::identity::synthetic_number;
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson};

use crate::world::{HomeArea, World};
use crate::write::{Cell, Record};

/// Relative volume by month: dips in July and December.
pub const SEASON: [f64; 12] = [1.0, 1.05, 1.1, 1.0, 1.05, 0.9, 0.35, 0.8, 1.1, 1.1, 1.1, 0.6];

/// Outpatient and day contacts in the LMS diagnosis groups per inhabitant and year, by age group.
const CONTACT_RATE: [f64; 5] = [0.08, 0.10, 0.18, 0.32, 0.38];
/// Average contacts per person with contacts (1 + Poisson(0.9)).
const CONTACTS_PER_PERSON: f64 = 1.9;
/// Probability that a person with contacts takes part in group education, by age group.
const EDUCATION: [f64; 5] = [0.05, 0.05, 0.045, 0.04, 0.025];
/// Reach in the smallest municipalities (size class 4) relative to others: the planted equity gap.
pub const SMALL_MUNICIPALITY_REACH: f64 = 0.55;
/// Course runs per inhabitant of the catchment and year.
const RUNS_PER_INHABITANT: f64 = 0.0009;

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u64 {
    if lambda <= 0.0 { 0 } else { Poisson::new(lambda).expect("positive rate").sample(rng) as u64 }
}

fn weighted<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, f64)]) -> &'a T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0.0..total);
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

/// A day in the period, months weighted by season when `period` is `None` for the month.
pub fn seasonal_month(rng: &mut ChaCha8Rng) -> u32 {
    let months: Vec<(u32, f64)> = (1..=12).zip(SEASON).collect();
    *weighted(rng, &months)
}

pub fn day_in(rng: &mut ChaCha8Rng, period: Period) -> NaiveDate {
    period.first_day() + Duration::days(rng.random_range(0..period.days()) as i64)
}

fn trend(year: i32) -> f64 {
    // Slowly rising use of group education and its coding; 2020 dampened by the pandemic.
    let base = 1.0 + 0.06 * f64::from(year - 2020);
    if year == 2020 { base * 0.8 } else { base }
}

// ---------------------------------------------------------------------------------------------
// Coding

const DIAGNOSES: [(&str, &[&str]); 13] = [
    ("diabetes", &["E10.9", "E11.9", "E11.6", "E13.9"]),
    ("hjerte_kar", &["I50.9", "I25.1", "I48.9", "I10"]),
    ("lunge", &["J44.1", "J45.9", "J84.1"]),
    ("kreft", &["C50.9", "C18.9", "C61", "C34.9"]),
    ("psykisk_helse", &["F32.1", "F41.1", "F33.1", "F84.0", "F90.0"]),
    ("rus", &["F10.2", "F11.2", "F19.2"]),
    ("nevrologi", &["G35", "G40.9", "G20"]),
    ("muskel_skjelett", &["M05.9", "M06.9", "M79.7", "M45"]),
    ("sjeldne", &["Q90.9", "E84.0", "Q87.4"]),
    ("overvekt", &["E66.9", "E66.0"]),
    ("smerte", &["R52.2", "R52.9"]),
    ("barn_familie", &["P07.3", "P21.9"]),
    ("annet", &["N18.5", "K50.9", "K51.9", "L40.0", "H54.0", "H90.3"]),
];

/// Weights of the diagnosis groups by age group (same order as `DIAGNOSES`).
const DIAGNOSIS_WEIGHTS: [[f64; 13]; 5] = [
    [3.0, 0.2, 3.0, 0.3, 4.0, 0.5, 1.5, 0.5, 2.0, 2.0, 0.5, 3.0, 1.0],
    [3.0, 0.5, 2.0, 1.0, 5.0, 2.0, 1.5, 1.5, 1.0, 2.0, 1.5, 1.0, 1.5],
    [4.0, 2.5, 2.0, 2.5, 3.0, 1.5, 2.0, 3.0, 0.5, 1.5, 2.0, 0.2, 2.0],
    [4.0, 4.5, 3.5, 3.5, 1.5, 0.7, 2.0, 3.0, 0.3, 0.8, 1.5, 0.1, 2.5],
    [3.0, 5.0, 3.5, 2.5, 1.0, 0.2, 2.0, 2.0, 0.1, 0.2, 1.0, 0.1, 3.0],
];

/// One person with contacts in a year.
pub struct Person {
    pub fnr: String,
    pub birth: NaiveDate,
    pub home: HomeArea,
    /// `bydel` withheld (unknown district) or `bostedskommune` unknown.
    pub kommune: String,
    pub bydel: Option<String>,
}

/// A synthetic test identity for someone aged `age` in `year` (month + 80; some in D-number form).
pub fn person_number(rng: &mut ChaCha8Rng, year: i32, age: i32) -> (String, NaiveDate) {
    loop {
        let birth =
            NaiveDate::from_ymd_opt(year - age - 1, 7, 1).expect("date") + Duration::days(rng.random_range(0..365));
        let d_number = rng.random_bool(0.08);
        let range = if birth.year() >= 2000 { 500..=999 } else { 0..=499 };
        for _ in 0..30 {
            if let Some(n) = synthetic_number(birth, rng.random_range(range.clone()), d_number) {
                return (n, birth);
            }
        }
    }
}

pub fn age_in_group(rng: &mut ChaCha8Rng, group: usize) -> i32 {
    match group {
        0 => rng.random_range(0..=19),
        1 => rng.random_range(20..=39),
        2 => rng.random_range(40..=59),
        3 => rng.random_range(60..=79),
        _ => rng.random_range(80..=99),
    }
}

/// A row before its id is given: the provider and date it is ordered and numbered by.
#[derive(Clone, Debug)]
pub struct DatedRecord {
    pub hf: String,
    pub date: NaiveDate,
    /// Orders rows of one provider and day deterministically.
    pub seq: u64,
    pub record: Record,
}

/// A coding row before its id is given.
pub type Contact = DatedRecord;
/// A questionnaire response before its id is given.
pub type Response = DatedRecord;

pub fn new_person(rng: &mut ChaCha8Rng, home: &HomeArea, year: i32, group: usize) -> Person {
    let age = age_in_group(rng, group);
    let (fnr, birth) = person_number(rng, year, age);
    let (mut kommune, mut bydel) = (home.kommune.clone(), home.bydel.clone());
    if bydel.is_some() && rng.random_bool(0.01) {
        bydel = None; // Oslo resident whose district the record lacks
    } else if rng.random_bool(0.004) {
        (kommune, bydel) = ("9999".into(), None);
    }
    Person { fnr, birth, home: home.clone(), kommune, bydel }
}

/// Which provider treats a resident: mostly the catchment HF, sometimes another of the region.
pub fn provider(rng: &mut ChaCha8Rng, world: &World<'_>, home: &HomeArea) -> String {
    if rng.random_bool(0.88) {
        home.hf.clone()
    } else {
        world.region_hfs[&home.rhf].choose(rng).expect("region has HFs").clone()
    }
}

/// The contact record in contract order (kontakt_id left empty until ids are given).
#[allow(clippy::too_many_arguments)]
pub fn contact_record(
    rng: &mut ChaCha8Rng,
    rhf: Rhf,
    hf: &str,
    person: &Person,
    date: NaiveDate,
    diagnosis: (&str, &str),
    education: Education,
) -> Record {
    let (group, code) = diagnosis;
    let tjenesteomrade = match group {
        "psykisk_helse" => "psykisk_helse",
        "rus" => "rus",
        _ => "somatikk",
    };
    let (kontakttype, procedures, special, gruppe) = match education {
        Education::A0099 { relatives } => {
            let mut p = vec!["WPCK00".to_string(), "ZWWA30".to_string()];
            if relatives {
                p.push("ZWWA40".into());
            }
            (if rng.random_bool(0.9) { 13 } else { 2 }, p, vec!["A0099".to_string()], true)
        }
        Education::Uncoded => (13, vec!["WPCK00".to_string()], vec![], rng.random_bool(0.5)),
        Education::None => {
            let p = if rng.random_bool(0.1) { vec!["ZWWC20".to_string()] } else { vec![] };
            (*[1, 2, 3].choose(rng).expect("types"), p, vec![], false)
        }
    };
    let tolk_rate = if person.bydel.is_some() { 0.07 } else { 0.025 };
    let list = |v: Vec<String>| if v.is_empty() { Cell::Null } else { Cell::List(v) };
    Record::new(vec![
        Cell::Str(rhf.code().into()),
        Cell::Str(hf.into()),
        Cell::Null,
        Cell::Str(person.fnr.clone()),
        Cell::Str(person.kommune.clone()),
        person.bydel.clone().map_or(Cell::Null, Cell::Str),
        Cell::Date(date),
        Cell::Str(if rng.random_bool(0.85) { "poliklinikk" } else { "dag" }.into()),
        Cell::Str(tjenesteomrade.into()),
        Cell::Str(code.into()),
        Cell::Int(kontakttype),
        list(procedures),
        list(special),
        Cell::Bool(gruppe),
        Cell::Bool(rng.random_bool(tolk_rate)),
    ])
}

#[derive(Clone, Copy, Debug)]
pub enum Education {
    A0099 { relatives: bool },
    Uncoded,
    None,
}

pub fn diagnosis(rng: &mut ChaCha8Rng, group: usize) -> (&'static str, &'static str) {
    let items: Vec<(usize, f64)> = DIAGNOSIS_WEIGHTS[group].iter().copied().enumerate().collect();
    let (name, codes) = DIAGNOSES[*weighted(rng, &items)];
    (name, codes.choose(rng).expect("codes"))
}

/// All coding contacts of one region's residents in one year.
pub fn coding_year(rng: &mut ChaCha8Rng, world: &World<'_>, rhf: Rhf, year: i32, scale: f64) -> Vec<Contact> {
    let mut contacts = Vec::new();
    let mut seq = 0u64;
    for home in world.homes.iter().filter(|h| h.rhf == rhf) {
        let pop = world.population(year, &home.area);
        let size = if home.size_class == 4 { SMALL_MUNICIPALITY_REACH } else { 1.0 };
        for (stratum, &n) in pop.iter().enumerate() {
            let group = stratum % 5;
            let persons = poisson(rng, n as f64 * CONTACT_RATE[group] / CONTACTS_PER_PERSON * scale);
            for _ in 0..persons {
                let person = new_person(rng, home, year, group);
                let hf = provider(rng, world, home);
                let diag = diagnosis(rng, group);
                let regular = 1 + poisson(rng, 0.9);
                for _ in 0..regular {
                    let period = Period::new(year, seasonal_month(rng)).expect("month");
                    let date = day_in(rng, period);
                    let record = contact_record(rng, rhf, &hf, &person, date, diag, Education::None);
                    seq += 1;
                    contacts.push(Contact { hf: hf.clone(), date, seq, record });
                }
                let p_edu = EDUCATION[group] * world.reach[&home.hf] * size * trend(year);
                if rng.random_bool(p_edu.min(1.0)) {
                    // A group course: weekly sessions at one provider, each a contact.
                    let sessions = rng.random_range(2..=5);
                    let month = seasonal_month(rng);
                    let mut date = day_in(rng, Period::new(year, month).expect("month"));
                    let last = date + Duration::weeks(sessions - 1);
                    if last.year() > year {
                        date -= last - NaiveDate::from_ymd_opt(year, 12, 31).expect("date");
                    }
                    let relatives = rng.random_bool(0.15);
                    let coded = world.a0099_coding[&hf];
                    for s in 0..sessions {
                        let d = date + Duration::weeks(s);
                        let education =
                            if rng.random_bool(coded) { Education::A0099 { relatives } } else { Education::Uncoded };
                        let record = contact_record(rng, rhf, &hf, &person, d, diag, education);
                        seq += 1;
                        contacts.push(Contact { hf: hf.clone(), date: d, seq, record });
                    }
                }
            }
        }
    }
    contacts
}

// ---------------------------------------------------------------------------------------------
// Activity and evaluation

const TITLES: [(&str, &[&str]); 13] = [
    ("diabetes", &["Leve med diabetes type 2", "Diabetes type 1, for ungdom", "Lær om insulinpumpe"]),
    ("hjerte_kar", &["Hjertekurs", "Leve med hjertesvikt", "Hjerterehabilitering, del 1"]),
    ("lunge", &["KOLS-skole", "Astmaskole for foreldre"]),
    ("kreft", &["Kreft og arbeid", "Mestring etter kreftbehandling", "\"Pust\" – kurs for pårørende"]),
    ("psykisk_helse", &["Mestring av angst", "Kurs i depresjonsmestring (KiD)", "Foreldre i ADHD-familier"]),
    ("rus", &["Pårørendeskole rus", "Rusfri hverdag"]),
    ("nevrologi", &["Leve med MS", "Epilepsiskolen", "Parkinson – hverdagen"]),
    ("muskel_skjelett", &["Revmatisme og trening", "Leve med langvarige smerter i ryggen"]),
    ("sjeldne", &["Downs syndrom: foreldrekurs", "Cystisk fibrose; nye behandlinger"]),
    ("overvekt", &["Livsstilskurs for familier", "Vektreduksjon, kosthold og aktivitet"]),
    ("smerte", &["Smertemestring", "Langvarige smerter, søvn og stress"]),
    ("barn_familie", &["Foreldrekurs for premature", "Søskenkurs"]),
    ("annet", &["Leve med nyresvikt", "Hørselskurs", "Synshemming i hverdagen"]),
];

/// Share of a provider's courses held in each Sami language: mostly Helse Nord and Helse Midt-Norge.
fn sami_languages(hf: &str) -> &'static [(&'static str, f64)] {
    match hf {
        "FIN" => &[("se", 0.15)],
        "UNN" => &[("se", 0.07), ("smj", 0.02)],
        "NLSH" => &[("smj", 0.05), ("se", 0.01)],
        "HSYK" => &[("sma", 0.04)],
        "HNT" => &[("sma", 0.04)],
        "STO" => &[("sma", 0.02)],
        "OUS" => &[("se", 0.004)],
        _ => &[],
    }
}

/// A course run: the activity record and what evaluations need to know of it.
#[derive(Clone, Debug)]
pub struct CourseRun {
    pub hf: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub seq: u64,
    pub patients: i64,
    pub relatives: i64,
    pub cancelled: bool,
    pub record: Record,
}

pub fn course_run(rng: &mut ChaCha8Rng, world: &World<'_>, rhf: Rhf, hf: &str, start: NaiveDate) -> CourseRun {
    let year = start.year();
    let (group, titles) = TITLES.choose(rng).expect("titles");
    let mut language = "nb";
    let mut x = rng.random::<f64>();
    for (code, share) in sami_languages(hf) {
        if x < *share {
            language = code;
            break;
        }
        x -= share;
    }
    if language == "nb" {
        let nn = if rhf == Rhf::Hv { 0.08 } else { 0.02 };
        language = *weighted(rng, &[("nb", 0.9), ("nn", nn), ("en", 0.015), ("annet", 0.01)]);
    }
    let mut title = titles.choose(rng).expect("title").to_string();
    match language {
        "se" => title.push_str(" (sámegillii)"),
        "smj" => title.push_str(" (julevsámegiella)"),
        "sma" => title.push_str(" (åarjelsaemien)"),
        _ => {}
    }
    if rng.random_bool(0.003) {
        title = title.replacen(' ', "\n", 1); // a title kept on two lines: a quoted line break
    }
    let malgruppe = *weighted(rng, &[("pasient", 0.4), ("begge", 0.5), ("parorende", 0.1)]);
    let prioritert = *weighted(
        rng,
        &[
            ("ingen", 0.6),
            ("barn_unge", 0.12),
            ("psykisk_rus", 0.1),
            ("skropelige_eldre", 0.08),
            ("flere_kroniske", 0.1),
        ],
    );
    let digital = match year {
        2020 => 0.35,
        2021 => 0.3,
        _ => 0.15,
    };
    let format = *weighted(rng, &[("fysisk", 1.0 - digital - 0.08), ("digital", digital), ("hybrid", 0.08)]);
    let samlinger: i64 = rng.random_range(1..=8);
    let end = start + Duration::days(7 * (samlinger - 1) + rng.random_range(0..=2));
    let hours_per_session = *[200i64, 250, 300, 350, 400].choose(rng).expect("hours");
    let cancelled = rng.random_bool(0.04);
    let (patients, relatives) = if cancelled {
        (0, 0)
    } else {
        match malgruppe {
            "parorende" => (rng.random_range(0..=2), rng.random_range(4..=14)),
            "begge" => (rng.random_range(3..=12), rng.random_range(1..=8)),
            _ => (rng.random_range(3..=15), rng.random_range(0..=2)),
        }
    };
    let dropped = (0..patients + relatives).filter(|_| rng.random_bool(0.1)).count() as i64;
    let involved = rng.random_bool(0.7);
    let bool_or = |rng: &mut ChaCha8Rng, p: f64| Cell::Bool(involved || rng.random_bool(p));
    let kommune = if rng.random_bool(0.35) {
        let home_hf =
            if world.catchment_kommuner.contains_key(hf) { hf.to_string() } else { world.region_hfs[&rhf][0].clone() };
        world.catchment_kommuner.get(&home_hf).and_then(|k| k.choose(rng)).cloned().map_or(Cell::Null, Cell::Str)
    } else {
        Cell::Null
    };
    let record = Record::new(vec![
        Cell::Str(rhf.code().into()),
        Cell::Str(hf.into()),
        Cell::Null,
        Cell::Str(title),
        Cell::Str(group.to_string()),
        Cell::Str(malgruppe.into()),
        Cell::Str(prioritert.into()),
        Cell::Str(format.into()),
        Cell::Str(language.into()),
        Cell::Bool(rng.random_bool(0.06)),
        kommune,
        bool_or(rng, 0.5),
        bool_or(rng, 0.4),
        bool_or(rng, 0.5),
        Cell::Date(start),
        Cell::Date(end),
        Cell::Int(samlinger),
        Cell::Dec(samlinger * hours_per_session),
        Cell::Int(patients),
        Cell::Int(relatives),
        Cell::Int(patients + relatives - dropped),
        Cell::Bool(cancelled),
    ]);
    CourseRun { hf: hf.into(), start, end, seq: 0, patients, relatives, cancelled, record }
}

/// The course runs of one region's providers in one year.
pub fn activity_year(rng: &mut ChaCha8Rng, world: &World<'_>, rhf: Rhf, year: i32, scale: f64) -> Vec<CourseRun> {
    let mut runs = Vec::new();
    for hf in &world.region_hfs[&rhf] {
        let catchment = world.catchment_population(year, hf) as f64;
        // Providers without a catchment (Sunnaas, Haraldsplass) run courses for the whole region.
        let yearly = if catchment > 0.0 { catchment * RUNS_PER_INHABITANT } else { 60.0 };
        for month in 1..=12u32 {
            let lambda = yearly / 12.0 * SEASON[month as usize - 1] * world.course_volume[hf] * trend(year) * scale;
            for _ in 0..poisson(rng, lambda) {
                let start = day_in(rng, Period::new(year, month).expect("month"));
                let mut run = course_run(rng, world, rhf, hf, start);
                run.seq = runs.len() as u64;
                runs.push(run);
            }
        }
    }
    runs
}

fn score(x: f64) -> i64 {
    ((x.clamp(0.0, 100.0)) * 10.0).round() as i64 * 10 // one decimal, in hundredths
}

#[allow(clippy::too_many_arguments)]
pub fn response_record(
    rng: &mut ChaCha8Rng,
    rhf: Rhf,
    hf: &str,
    kurs_id: &str,
    deltaker: Option<&str>,
    rolle: &str,
    when: &str,
    date: NaiveDate,
    pam: Option<i64>,
) -> Record {
    let likert = |rng: &mut ChaCha8Rng| *weighted(rng, &[(5i64, 0.45), (4, 0.35), (3, 0.13), (2, 0.05), (1, 0.02)]);
    let after = when != "for";
    let level = pam.filter(|_| rng.random_bool(0.7)).map(lms_schemas::contract::pam_level);
    Record::new(vec![
        Cell::Str(rhf.code().into()),
        Cell::Str(hf.into()),
        Cell::Str(kurs_id.into()),
        Cell::Null,
        deltaker.map_or(Cell::Null, |d| Cell::Str(d.into())),
        Cell::Str(rolle.into()),
        Cell::Str(when.into()),
        Cell::Date(date),
        pam.map_or(Cell::Null, Cell::Dec),
        level.map_or(Cell::Null, Cell::Int),
        if after && rng.random_bool(0.95) { Cell::Int(likert(rng)) } else { Cell::Null },
        if after && rng.random_bool(0.9) { Cell::Int(likert(rng)) } else { Cell::Null },
        if after && rng.random_bool(0.85) { Cell::Bool(rng.random_bool(0.9)) } else { Cell::Null },
    ])
}

/// The responses to one course run: before, at the end and months after; PAM scores improve on
/// average; a few respondents answer twice, some responses lack a respondent, and a few name a
/// course run that was never delivered (dangling).
pub fn responses(rng: &mut ChaCha8Rng, rhf: Rhf, run: &CourseRun, kurs_id: &str) -> Vec<Response> {
    let mut out = Vec::new();
    if run.cancelled {
        return out;
    }
    let before = Normal::new(54.0, 11.0).expect("normal");
    let gain = Normal::new(3.5, 6.5).expect("normal");
    let people = (0..run.patients).map(|_| "pasient").chain((0..run.relatives).map(|_| "parorende"));
    for rolle in people {
        if !rng.random_bool(if rolle == "pasient" { 0.6 } else { 0.3 }) {
            continue;
        }
        let deltaker = if rng.random_bool(0.96) { Some(format!("P{:010x}", rng.random::<u64>() >> 24)) } else { None };
        let kurs = if rng.random_bool(0.01) { format!("{kurs_id}X") } else { kurs_id.to_string() };
        let pam_for = before.sample(rng);
        let scored = rolle == "pasient" && rng.random_bool(0.9);
        let mut push = |rng: &mut ChaCha8Rng, when: &str, date: NaiveDate, pam: Option<f64>| {
            let pam = pam.filter(|_| scored).map(score);
            let record = response_record(rng, rhf, &run.hf, &kurs, deltaker.as_deref(), rolle, when, date, pam);
            out.push(Response { hf: run.hf.clone(), date, seq: 0, record });
        };
        push(rng, "for", run.start, Some(pam_for));
        if rng.random_bool(0.8) {
            let pam_after = pam_for + gain.sample(rng);
            push(rng, "etter", run.end, Some(pam_after));
            if rng.random_bool(0.02) {
                // Answered twice: the later response is the one that counts.
                push(rng, "etter", run.end + Duration::days(3), Some(pam_after + 1.0));
            }
            if rng.random_bool(0.3) {
                push(rng, "oppfolging", run.end + Duration::days(90), Some(pam_after - 1.0));
            }
        }
    }
    out
}
