//! Deterministic demo extracts for the four regions, as the RHFs would deliver them: each region in
//! its own dialect and file naming, volumes in proportion to the real population, real differences
//! between catchment areas, lower reach in the smallest municipalities, Sami-language courses in the
//! north, PAM scores that improve, seasonal dips. It also plants bad input of every rule kind and
//! writes `manifest.json`, which says exactly what was planted where, so tests can hold the checks
//! and the ETL to it.
//!
//! Invariant: the same options give byte-identical files. Every random draw comes from a stream
//! derived from the seed and a label ([`rng::stream`]), collections are ordered, nothing reads the
//! clock.

pub mod extracts;
pub mod rng;
pub mod world;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Duration;
use lms_schemas::dialect::Rhf;
use lms_schemas::{ExtractKind, Period, Reference, Rule};
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::extracts::{Contact, CourseRun, DatedRecord, Education, Response};
use crate::world::World;
use crate::write::{CORRUPT_MARKER, Cell, FileOptions, Record};

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub seed: u64,
    pub first_year: i32,
    pub last_year: i32,
    /// Volume multiplier: 1 ≈ a realistic national volume (about a million coded contacts a year).
    pub scale: f64,
    /// Write every municipality code on 2024 borders, even on earlier days (as no real extract
    /// would), and plant no `kommune_not_valid_on_date` fault: the same data as by default but
    /// for the codes, to compare figures with. By default a row carries the code valid on its day.
    pub codes_of_2024: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { seed: 7, first_year: 2020, last_year: 2025, scale: 0.1, codes_of_2024: false }
    }
}

/// A fault planted in a row: where the check must report it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlantedRow {
    pub line: u64,
    /// The contract column, or `None` for a malformed record.
    pub column: Option<String>,
    pub rule: Rule,
}

/// One file written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the output directory, with `/`.
    pub path: String,
    /// The region whose directory it is in.
    pub rhf: String,
    /// Records after the header (malformed ones included).
    pub rows: u64,
    /// Rows with a planted fault; all other rows are clean.
    pub planted: Vec<PlantedRow>,
    /// The rule the whole file breaks, if it was planted to be rejected.
    pub rejected: Option<Rule>,
    /// The corrected re-delivery (`_v2`) that replaces this file's period.
    pub superseded_by: Option<String>,
}

impl FileEntry {
    /// Rows the ETL should load from this file when it is taken alone.
    pub fn expected_loaded(&self) -> u64 {
        if self.rejected.is_some() {
            return 0;
        }
        let mut lines: Vec<u64> = self.planted.iter().map(|p| p.line).collect();
        lines.sort();
        lines.dedup();
        self.rows - lines.len() as u64
    }
}

/// What `generate` wrote: `manifest.json` in the output directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub seed: u64,
    pub scale: f64,
    pub first_year: i32,
    pub last_year: i32,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("bad options: {0}")]
    Options(String),
}

/// A file to write: records and the faults planted in them (index into `records`).
#[derive(Default)]
struct FilePlan {
    records: Vec<Record>,
    planted: Vec<(usize, Option<&'static str>, Rule)>,
    omit_column: Option<&'static str>,
    corrupt: bool,
    rejected: Option<Rule>,
    superseded_by: Option<String>,
}

impl FilePlan {
    fn clean(records: Vec<Record>) -> FilePlan {
        FilePlan { records, ..FilePlan::default() }
    }
}

fn set(record: &mut Record, kind: ExtractKind, column: &str, cell: Cell) {
    record.cells[kind.column_index(column).expect("declared column")] = cell;
}

fn get<'a>(record: &'a Record, kind: ExtractKind, column: &str) -> &'a Cell {
    &record.cells[kind.column_index(column).expect("declared column")]
}

/// The record's municipality code as an extract of its day carries it: the generator thinks in
/// 2024 borders, and before 2024 many municipalities had other codes (Viken, Vestfold og Telemark,
/// Troms og Finnmark; Ålesund and Haram were one, 1507).
fn code_of_its_day(record: &mut Record, kind: ExtractKind, reference: &Reference) {
    let (code_column, date_column) = match kind {
        ExtractKind::Coding => ("bostedskommune", "kontaktdato"),
        ExtractKind::Activity => ("samarbeid_kommune", "startdato"),
        ExtractKind::Evaluation => return,
    };
    let &Cell::Date(day) = get(record, kind, date_column) else { return };
    if let Cell::Str(code) = get(record, kind, code_column) {
        let then = reference.kommune_on(code, day).to_string();
        set(record, kind, code_column, Cell::Str(then));
    }
}

/// Generates the demo extracts into `out/{HSO,HV,HMN,HN}/` and writes `out/manifest.json`.
pub fn generate(out: &Path, options: &Options, reference: &Reference) -> Result<Manifest, GenerateError> {
    if options.first_year > options.last_year || options.first_year < 2000 || options.last_year > 2099 {
        return Err(GenerateError::Options(format!("years {}-{}", options.first_year, options.last_year)));
    }
    if !(options.scale > 0.0 && options.scale <= 1000.0) {
        return Err(GenerateError::Options(format!("scale {} (expected > 0 and ≤ 1000)", options.scale)));
    }
    let world = World::new(reference, options.seed);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GenerateError::Io { path, source }
    };
    let mut files = Vec::new();
    for rhf in Rhf::ALL {
        let dir = out.join(rhf.code());
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        // One year at a time, so memory holds one region-year (responses dated in a later year
        // are carried over to it).
        let mut carry: BTreeMap<Period, Vec<Response>> = BTreeMap::new();
        for year in options.first_year..=options.last_year {
            let plans = year_plans(&world, rhf, options, year, &mut carry);
            for (name, plan) in plans {
                let (mut bytes, lines) = write::write_file(
                    rhf,
                    kind_of(&name),
                    &plan.records,
                    FileOptions { omit_column: plan.omit_column },
                );
                if plan.corrupt {
                    assert!(write::corrupt(&mut bytes, rhf), "corruption marker written");
                }
                let path = dir.join(&name);
                std::fs::write(&path, &bytes).map_err(io(&path))?;
                let mut planted: Vec<PlantedRow> = plan
                    .planted
                    .iter()
                    .map(|(i, column, rule)| PlantedRow {
                        line: lines[*i],
                        column: column.map(str::to_string),
                        rule: *rule,
                    })
                    .collect();
                planted.sort();
                files.push(FileEntry {
                    path: format!("{}/{name}", rhf.code()),
                    rhf: rhf.code().to_string(),
                    rows: plan.records.len() as u64,
                    planted,
                    rejected: plan.rejected,
                    superseded_by: plan.superseded_by.map(|s| format!("{}/{s}", rhf.code())),
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest {
        seed: options.seed,
        scale: options.scale,
        first_year: options.first_year,
        last_year: options.last_year,
        files,
    };
    let path = out.join("manifest.json");
    let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
    std::fs::write(&path, text + "\n").map_err(io(&path))?;
    Ok(manifest)
}

/// The extract a planned file holds (planted misnamed files hold a coding or activity extract).
fn kind_of(name: &str) -> ExtractKind {
    ExtractKind::ALL.into_iter().find(|k| name.contains(&format!("_{k}_"))).unwrap_or(ExtractKind::Coding)
}

fn file_name(rhf: Rhf, kind: ExtractKind, period: Period, version: u32) -> String {
    lms_schemas::Delivery { rhf, extract: kind, period, version, extension: rhf.dialect().format.extension().into() }
        .file_name()
}

/// Orders one period's rows by provider and date and numbers them per provider into the id column.
fn with_ids(mut rows: Vec<DatedRecord>, kind: ExtractKind, id: impl Fn(&str, u32) -> String) -> Vec<Record> {
    rows.sort_by(|a, b| (&a.hf, a.date, a.seq).cmp(&(&b.hf, b.date, b.seq)));
    let mut out = Vec::with_capacity(rows.len());
    let (mut n, mut last_hf) = (0, String::new());
    for mut r in rows {
        if r.hf != last_hf {
            (n, last_hf) = (0, r.hf.clone());
        }
        n += 1;
        set(&mut r.record, kind, kind.id_column(), Cell::Str(id(&r.hf, n)));
        out.push(r.record);
    }
    out
}

/// Every file of one region and year, clean and planted, by file name. Responses dated in a later
/// year of the range go to `carry`; those carried to this year are taken from it.
fn year_plans(
    world: &World<'_>,
    rhf: Rhf,
    options: &Options,
    year: i32,
    carry: &mut BTreeMap<Period, Vec<Response>>,
) -> BTreeMap<String, FilePlan> {
    let mut monthly: BTreeMap<(ExtractKind, Period), Vec<Record>> = BTreeMap::new();
    for month in 1..=12 {
        let p = Period::new(year, month).expect("period");
        for kind in ExtractKind::ALL {
            monthly.insert((kind, p), Vec::new());
        }
    }
    let mut responses: BTreeMap<Period, Vec<Response>> = BTreeMap::new();
    for month in 1..=12 {
        if let Some(carried) = carry.remove(&Period::new(year, month).expect("period")) {
            responses.insert(Period::new(year, month).expect("period"), carried);
        }
    }
    {
        // Coding: contacts by period, ordered by provider and date, then given ids.
        let mut rng = rng::stream(options.seed, &format!("coding/{rhf}/{year}"));
        let mut by_period: BTreeMap<Period, Vec<Contact>> = BTreeMap::new();
        for c in extracts::coding_year(&mut rng, world, rhf, year, options.scale) {
            by_period.entry(Period::new(year, chrono::Datelike::month(&c.date)).expect("period")).or_default().push(c);
        }
        for (period, contacts) in by_period {
            let records = with_ids(contacts, ExtractKind::Coding, |hf, n| format!("{hf}-{period}-{n:06}"));
            monthly.insert((ExtractKind::Coding, period), records);
        }
        // Activity: runs by period and provider, then their responses, dated where they fall.
        let mut rng = rng::stream(options.seed, &format!("activity/{rhf}/{year}"));
        let mut runs: Vec<CourseRun> = extracts::activity_year(&mut rng, world, rhf, year, options.scale);
        runs.sort_by(|a, b| (&a.hf, a.start, a.seq).cmp(&(&b.hf, b.start, b.seq)));
        let mut counters: BTreeMap<(String, Period), u32> = BTreeMap::new();
        let mut rng = rng::stream(options.seed, &format!("evaluation/{rhf}/{year}"));
        for mut run in runs {
            let period = Period::new(year, chrono::Datelike::month(&run.start)).expect("period");
            let n = counters.entry((run.hf.clone(), period)).or_default();
            *n += 1;
            let kurs_id = format!("{}-K{period}-{n:04}", run.hf);
            set(&mut run.record, ExtractKind::Activity, "kurs_id", Cell::Str(kurs_id.clone()));
            for r in extracts::responses(&mut rng, rhf, &run, &kurs_id) {
                let p = Period::new(chrono::Datelike::year(&r.date), chrono::Datelike::month(&r.date)).expect("period");
                if p.year == year {
                    responses.entry(p).or_default().push(r);
                } else if p.year <= options.last_year {
                    carry.entry(p).or_default().push(r);
                }
            }
            monthly.get_mut(&(ExtractKind::Activity, period)).expect("period").push(run.record);
        }
    }
    for (period, mut list) in responses {
        for (i, r) in list.iter_mut().enumerate() {
            r.seq = i as u64;
        }
        let records = with_ids(list, ExtractKind::Evaluation, |hf, n| format!("{hf}-S{period}-{n:05}"));
        monthly.insert((ExtractKind::Evaluation, period), records);
    }

    if !options.codes_of_2024 {
        for ((kind, _), records) in monthly.iter_mut() {
            for r in records.iter_mut() {
                code_of_its_day(r, *kind, world.reference);
            }
        }
    }
    let mut plans: BTreeMap<String, FilePlan> = monthly
        .into_iter()
        .map(|((kind, period), records)| (file_name(rhf, kind, period, 1), FilePlan::clean(records)))
        .collect();
    if year == options.first_year {
        plant(world, rhf, options, &mut plans);
    }
    plans
}

/// Fresh clean rows to carry planted faults, one extract at a time.
struct Templates<'w, 'r> {
    world: &'w World<'r>,
    rhf: Rhf,
    rng: ChaCha8Rng,
    n: u32,
    /// Codes of the row's day ([`Options::codes_of_2024`] off).
    codes_of_their_day: bool,
}

impl Templates<'_, '_> {
    fn next_id(&mut self, hf: &str, tag: &str, period: Period) -> String {
        self.n += 1;
        format!("{hf}-{tag}{period}-P{:03}", self.n)
    }

    fn record(&mut self, kind: ExtractKind, period: Period) -> Record {
        let mut r = self.record_of_2024(kind, period);
        if self.codes_of_their_day {
            code_of_its_day(&mut r, kind, self.world.reference);
        }
        r
    }

    fn record_of_2024(&mut self, kind: ExtractKind, period: Period) -> Record {
        let rng = &mut self.rng;
        let world = self.world;
        let homes: Vec<_> = world.homes.iter().filter(|h| h.rhf == self.rhf && h.bydel.is_none()).collect();
        let home = (*homes.choose(rng).expect("region has homes")).clone();
        let date = extracts::day_in(rng, period);
        match kind {
            ExtractKind::Coding => {
                let mut person = extracts::new_person(rng, &home, period.year, 2);
                (person.kommune, person.bydel) = (home.kommune.clone(), None);
                let diagnosis = extracts::diagnosis(rng, 2);
                let mut r =
                    extracts::contact_record(rng, self.rhf, &home.hf, &person, date, diagnosis, Education::None);
                let id = self.next_id(&home.hf, "", period);
                set(&mut r, kind, "kontakt_id", Cell::Str(id));
                r
            }
            ExtractKind::Activity => loop {
                let mut run = extracts::course_run(rng, world, self.rhf, &home.hf, date);
                if run.cancelled || run.patients + run.relatives == 0 || run.end.month0() != date.month0() {
                    continue;
                }
                let title = match get(&run.record, kind, "tittel") {
                    Cell::Str(s) => s.replace('\n', " "),
                    _ => unreachable!("titles are text"),
                };
                set(&mut run.record, kind, "tittel", Cell::Str(title));
                let id = self.next_id(&home.hf, "K", period);
                set(&mut run.record, kind, "kurs_id", Cell::Str(id));
                return run.record;
            },
            ExtractKind::Evaluation => {
                let kurs = format!("{}-K{period}-P000", home.hf);
                let mut r = extracts::response_record(
                    rng,
                    self.rhf,
                    &home.hf,
                    &kurs,
                    Some("Pplanted"),
                    "pasient",
                    "etter",
                    date,
                    Some(6000),
                );
                let id = self.next_id(&home.hf, "S", period);
                set(&mut r, kind, "svar_id", Cell::Str(id));
                r
            }
        }
    }
}

use chrono::Datelike;

/// Inserts planted rows among clean ones, spread evenly, remembering where each went.
fn insert_planted(plan: &mut FilePlan, planted: Vec<(Record, Option<&'static str>, Rule)>) {
    let clean = std::mem::take(&mut plan.records);
    let (n, m) = (clean.len(), planted.len());
    let mut planted = planted.into_iter().enumerate().peekable();
    for (i, r) in clean.into_iter().enumerate() {
        while let Some((k, _)) = planted.peek() {
            if (k + 1) * n / (m + 1) > i {
                break;
            }
            let (_, (rec, col, rule)) = planted.next().expect("peeked");
            plan.planted.push((plan.records.len(), col, rule));
            plan.records.push(rec);
        }
        plan.records.push(r);
    }
    for (_, (rec, col, rule)) in planted {
        plan.planted.push((plan.records.len(), col, rule));
        plan.records.push(rec);
    }
}

/// Plants one fault of every rule kind in each region's first year (row faults in February, a
/// corrected re-delivery in March, an undecodable file in April, a file missing a required column
/// in May, misnamed files in June, another region's file in July), each rejected file followed by
/// a `_v2` that corrects it.
fn plant(world: &World<'_>, rhf: Rhf, options: &Options, plans: &mut BTreeMap<String, FilePlan>) {
    let year = options.first_year;
    let p = |m| Period::new(year, m).expect("period");
    let mut t = Templates {
        world,
        rhf,
        rng: rng::stream(options.seed, &format!("plant/{rhf}")),
        n: 0,
        codes_of_their_day: !options.codes_of_2024,
    };
    let other_date_format = |d: chrono::NaiveDate| match rhf.dialect().dates {
        lms_schemas::dialect::DateFormat::Iso => d.format("%d.%m.%Y").to_string(),
        lms_schemas::dialect::DateFormat::Norwegian => d.format("%Y-%m-%d").to_string(),
    };
    let other_rhf = Rhf::ALL.into_iter().find(|r| *r != rhf).expect("four regions");

    // Row faults, February.
    use ExtractKind::{Activity, Coding, Evaluation};
    let feb = p(2);
    let mut rows: Vec<(Record, Option<&'static str>, Rule)> = Vec::new();
    let fault = |t: &mut Templates, kind, column: Option<&'static str>, rule, change: &dyn Fn(&mut Record)| {
        let mut r = t.record(kind, feb);
        change(&mut r);
        (r, column, rule)
    };
    let c = Coding;
    rows.push(fault(&mut t, c, Some("fodselsnummer"), Rule::Fodselsnummer, &|r| {
        if let Cell::Str(n) = get(r, c, "fodselsnummer") {
            let mut b = n.clone().into_bytes();
            b[10] = b'0' + (b[10] - b'0' + 1) % 10;
            set(r, c, "fodselsnummer", Cell::Str(String::from_utf8(b).expect("digits")));
        }
    }));
    rows.push(fault(&mut t, c, Some("hf"), Rule::UnknownHf, &|r| set(r, c, "hf", Cell::Str("XHF".into()))));
    rows.push(fault(&mut t, c, Some("kontaktdato"), Rule::Period, &|r| {
        set(r, c, "kontaktdato", Cell::Date(feb.next().first_day() + Duration::days(2)))
    }));
    rows.push(fault(&mut t, c, Some("omsorgsniva"), Rule::Code, &|r| {
        set(r, c, "omsorgsniva", Cell::Str("inneliggende".into()))
    }));
    rows.push(fault(&mut t, c, Some("rhf"), Rule::RhfMismatch, &|r| {
        set(r, c, "rhf", Cell::Str(other_rhf.code().into()))
    }));
    rows.push(fault(&mut t, c, Some("bostedskommune"), Rule::UnknownKommune, &|r| {
        set(r, c, "bostedskommune", Cell::Str("0000".into()))
    }));
    // A code used outside its validity (one of 2024 before 2024, one retired in 2024 after); made
    // but left out with codes of 2024, so the other rows stay the same.
    let history = &world.reference.kommune_history;
    let stale = fault(&mut t, c, Some("bostedskommune"), Rule::KommuneNotValidOnDate, &|r| {
        let &Cell::Date(day) = get(r, c, "kontaktdato") else { unreachable!("a template has its date") };
        let code = history
            .iter()
            .find(|h| world.reference.kommune(&h.kommune).is_some_and(|k| !k.valid_on(day)))
            .expect("the history has codes of another time");
        set(r, c, "bostedskommune", Cell::Str(code.kommune.clone()))
    });
    if !options.codes_of_2024 {
        rows.push(stale);
    }
    rows.push(fault(&mut t, c, Some("bydel"), Rule::Bydel, &|r| set(r, c, "bydel", Cell::Str("030101".into()))));
    rows.push(fault(&mut t, c, Some("hovedtilstand"), Rule::Icd10, &|r| {
        set(r, c, "hovedtilstand", Cell::Str("J20.9".into()))
    }));
    rows.push(fault(&mut t, c, Some("kontakttype"), Rule::Range, &|r| set(r, c, "kontakttype", Cell::Int(0))));
    rows.push(fault(&mut t, c, Some("kontaktdato"), Rule::Format, &|r| {
        if let Cell::Date(d) = get(r, c, "kontaktdato") {
            set(r, c, "kontaktdato", Cell::Raw(other_date_format(*d)));
        }
    }));
    rows.push(fault(&mut t, c, Some("tjenesteomrade"), Rule::Required, &|r| set(r, c, "tjenesteomrade", Cell::Null)));
    rows.push(fault(&mut t, c, Some("prosedyrekoder"), Rule::Format, &|r| {
        set(r, c, "prosedyrekoder", Cell::Raw("WP|ZWWA30".into()))
    }));
    rows.push(fault(&mut t, c, None, Rule::MalformedRecord, &|r| r.malformed = true));
    let dup = t.record(c, feb);
    let mut dup2 = t.record(c, feb);
    set(&mut dup2, c, "hf", get(&dup, c, "hf").clone());
    set(&mut dup2, c, "kontakt_id", get(&dup, c, "kontakt_id").clone());
    rows.push((dup, Some("kontakt_id"), Rule::DuplicateId));
    rows.push((dup2, Some("kontakt_id"), Rule::DuplicateId));
    // Identity numbers typed where they do not belong (synthetic test numbers, each in a form people
    // type them), from templates of their own so the other rows stay as they were.
    let mut typed = Templates {
        world,
        rhf,
        rng: rng::stream(options.seed, &format!("plant-identity/{rhf}")),
        n: 9000,
        codes_of_their_day: !options.codes_of_2024,
    };
    let number = |d_number: bool| {
        let birth = chrono::NaiveDate::from_ymd_opt(1962, 3, 14).expect("date");
        (100..500).find_map(|i| lms_schemas::identity::synthetic_number(birth, i, d_number)).expect("a number")
    };
    let (plain, d_form) = (number(false), number(true));
    rows.push(fault(&mut typed, c, Some("kontakt_id"), Rule::IdentityNumberInText, &|r| {
        set(r, c, "kontakt_id", Cell::Str(format!("K{plain}")))
    }));
    insert_planted(plans.get_mut(&file_name(rhf, c, feb, 1)).expect("file"), rows);

    let a = Activity;
    let mut rows = Vec::new();
    rows.push(fault(&mut t, a, Some("deltakere_pasient"), Rule::Range, &|r| {
        set(r, a, "deltakere_pasient", Cell::Int(-3))
    }));
    rows.push(fault(&mut t, a, Some("sluttdato"), Rule::DateOrder, &|r| {
        if let Cell::Date(d) = get(r, a, "startdato") {
            set(r, a, "sluttdato", Cell::Date(*d - Duration::days(1)));
        }
    }));
    rows.push(fault(&mut t, a, Some("fullfort"), Rule::Completed, &|r| {
        if let (Cell::Int(p), Cell::Int(q)) = (get(r, a, "deltakere_pasient"), get(r, a, "deltakere_parorende")) {
            set(r, a, "fullfort", Cell::Int(p + q + 1));
        }
    }));
    rows.push(fault(&mut t, a, Some("avlyst"), Rule::CancelledParticipants, &|r| {
        set(r, a, "avlyst", Cell::Bool(true))
    }));
    rows.push(fault(&mut t, a, Some("tittel"), Rule::Length, &|r| set(r, a, "tittel", Cell::Str("Kurs ".repeat(41)))));
    rows.push(fault(&mut t, a, Some("tolk_tilbudt"), Rule::Format, &|r| {
        set(r, a, "tolk_tilbudt", Cell::Raw("kanskje".into()))
    }));
    let other_mark = if rhf.dialect().decimal_mark == ',' { "7.5" } else { "7,5" };
    rows.push(fault(&mut t, a, Some("timer"), Rule::Format, &|r| set(r, a, "timer", Cell::Raw(other_mark.into()))));
    rows.push(fault(&mut typed, a, Some("tittel"), Rule::IdentityNumberInText, &|r| {
        set(r, a, "tittel", Cell::Str(format!("Oppfølging av {} {}", &plain[..6], &plain[6..])))
    }));
    insert_planted(plans.get_mut(&file_name(rhf, a, feb, 1)).expect("file"), rows);

    let e = Evaluation;
    let mut rows = Vec::new();
    rows.push(fault(&mut t, e, Some("pam_niva"), Rule::PamLevel, &|r| {
        set(r, e, "pam_score", Cell::Dec(8000));
        set(r, e, "pam_niva", Cell::Int(1));
    }));
    rows.push(fault(&mut t, e, Some("pam_score"), Rule::Range, &|r| {
        set(r, e, "pam_score", Cell::Dec(12000));
        set(r, e, "pam_niva", Cell::Null);
    }));
    rows.push(fault(&mut t, e, Some("rolle"), Rule::Code, &|r| set(r, e, "rolle", Cell::Str("pasientt".into()))));
    rows.push(fault(&mut typed, e, Some("deltaker"), Rule::IdentityNumberInText, &|r| {
        set(r, e, "deltaker", Cell::Str(format!("{}-{}", &d_form[..6], &d_form[6..])))
    }));
    // A NUL byte, as a broken export writes one (after the numbers: their rows stay as they were).
    rows.push(fault(&mut typed, e, Some("svar_id"), Rule::NulByte, &|r| {
        if let Cell::Str(id) = get(r, e, "svar_id").clone() {
            set(r, e, "svar_id", Cell::Str(format!("{id}\0")));
        }
    }));
    insert_planted(plans.get_mut(&file_name(rhf, e, feb, 1)).expect("file"), rows);

    // A corrected re-delivery, March: v1 had one participant count wrong and lacked the last run.
    let mar = p(3);
    let v1_name = file_name(rhf, a, mar, 1);
    let v2_name = file_name(rhf, a, mar, 2);
    let v1 = plans.get_mut(&v1_name).expect("file");
    while v1.records.len() < 2 || !v1.records.iter().any(|r| get(r, a, "avlyst") == &Cell::Bool(false)) {
        let r = t.record(a, mar);
        v1.records.push(r);
    }
    let truth = v1.records.clone();
    let i = v1.records.iter().position(|r| get(r, a, "avlyst") == &Cell::Bool(false)).expect("a held run");
    if let Cell::Int(n) = get(&v1.records[i], a, "deltakere_pasient") {
        let n = *n + 1;
        set(&mut v1.records[i], a, "deltakere_pasient", Cell::Int(n));
    }
    v1.records.pop();
    v1.superseded_by = Some(v2_name.clone());
    plans.insert(v2_name, FilePlan::clean(truth));

    // An undecodable file, April, and its corrected re-delivery.
    let (kind, column) = match rhf {
        Rhf::Hso => (c, "kontakt_id"),
        Rhf::Hv => (e, "deltaker"),
        Rhf::Hmn => (a, "tittel"),
        Rhf::Hn => (c, "kontakt_id"),
    };
    let apr = p(4);
    corrected(plans, &mut t, rhf, kind, apr, |plan| {
        set(&mut plan.records[0], kind, column, Cell::Str(format!("A{CORRUPT_MARKER}")));
        plan.corrupt = true;
        plan.rejected = Some(Rule::Undecodable);
    });

    // A file without a required column, May (CSV only: a JSON object simply lacks keys).
    if matches!(rhf.dialect().format, lms_schemas::dialect::FileFormat::Csv { .. }) {
        corrected(plans, &mut t, rhf, a, p(5), |plan| {
            plan.omit_column = Some("timer");
            plan.rejected = Some(Rule::MissingColumn);
        });
    }

    // Misnamed files, June: a good coding extract under a name off the convention.
    let jun = p(6);
    let good = plans[&file_name(rhf, c, jun, 1)].records.clone();
    let misnamed = match rhf {
        Rhf::Hso => format!("HSO_coding_{jun} (1).csv"),
        Rhf::Hv => format!("HV_kodning_{jun}.csv"),
        Rhf::Hmn => format!("HMN_coding_{year}-6.jsonl"),
        Rhf::Hn => format!("HN_coding_{jun}.xlsx"),
    };
    plans.insert(misnamed, FilePlan { rejected: Some(Rule::FileName), ..FilePlan::clean(good) });

    // Another region's file in this region's drop, July.
    let records = vec![t.record(a, p(7))];
    let foreign = file_name(other_rhf, a, p(7), 1).replace(".jsonl", ".csv");
    plans.insert(foreign, FilePlan { rejected: Some(Rule::FileRhf), ..FilePlan::clean(records) });
}

/// Makes the v1 of a period bad with `spoil` (the v2 keeps the clean rows) and links v1 to v2.
fn corrected(
    plans: &mut BTreeMap<String, FilePlan>,
    t: &mut Templates,
    rhf: Rhf,
    kind: ExtractKind,
    period: Period,
    spoil: impl FnOnce(&mut FilePlan),
) {
    let v1_name = file_name(rhf, kind, period, 1);
    let v2_name = file_name(rhf, kind, period, 2);
    let v1 = plans.get_mut(&v1_name).expect("file");
    if v1.records.is_empty() {
        let r = t.record(kind, period);
        v1.records.push(r);
    }
    let truth = v1.records.clone();
    spoil(v1);
    v1.superseded_by = Some(v2_name.clone());
    plans.insert(v2_name, FilePlan::clean(truth));
}
