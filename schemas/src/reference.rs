//! Reference data, versioned with the code (`schemas/reference/*.csv`, see its README for sources):
//! regions, health trusts, areas (municipalities and Oslo's city districts with their catchment HF),
//! population, ICD-10 groups and the municipality code history. Embedded in the binary so that
//! every command works from a clone.

use chrono::NaiveDate;
use rustc_hash::{FxHashMap, FxHashSet};

use serde::Deserialize;

const REGIONS: &str = include_str!("../reference/regions.csv");
const HEALTH_TRUSTS: &str = include_str!("../reference/health_trusts.csv");
const AREAS: &str = include_str!("../reference/areas.csv");
const POPULATION: &str = include_str!("../reference/population.csv");
const ICD10_GROUPS: &str = include_str!("../reference/icd10_groups.csv");
const KOMMUNE_HISTORY: &str = include_str!("../reference/kommune_history.csv");

/// The reference tables as CSV text (name, text), as embedded: for engines that read them directly.
pub const TABLES: [(&str, &str); 6] = [
    ("regions", REGIONS),
    ("health_trusts", HEALTH_TRUSTS),
    ("areas", AREAS),
    ("population", POPULATION),
    ("icd10_groups", ICD10_GROUPS),
    ("kommune_history", KOMMUNE_HISTORY),
];

/// The first day the code history covers: a code valid then is taken as valid before it too (the
/// history says nothing of earlier days).
pub const HISTORY_START: NaiveDate = NaiveDate::from_ymd_opt(2020, 1, 1).expect("a date");

/// The code that means "home municipality unknown" in `bostedskommune`.
pub const UNKNOWN_KOMMUNE: &str = "9999";
/// Oslo's kommunenummer; its city districts carry the catchment.
pub const OSLO: &str = "0301";
/// The age groups of the population table, in order.
pub const AGE_GROUPS: [&str; 5] = ["0-19", "20-39", "40-59", "60-79", "80+"];

/// Maps an age in whole years to its age group.
pub fn age_group(age: i32) -> &'static str {
    match age {
        i32::MIN..=19 => AGE_GROUPS[0],
        20..=39 => AGE_GROUPS[1],
        40..=59 => AGE_GROUPS[2],
        60..=79 => AGE_GROUPS[3],
        _ => AGE_GROUPS[4],
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Region {
    pub rhf: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct HealthTrust {
    pub hf: String,
    pub name: String,
    pub rhf: String,
    /// `hf` or `private`.
    pub kind: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Area {
    /// 4-digit kommunenummer or 6-digit Oslo district.
    pub area: String,
    pub name: String,
    /// `kommune` or `bydel`.
    pub kind: String,
    pub kommune: String,
    pub county: String,
    pub size_class: u8,
    pub sami_area: bool,
    /// The catchment health trust; empty for Oslo itself, whose districts carry it.
    pub hf: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PopulationRow {
    pub year: i32,
    pub area: String,
    /// `M` or `F`.
    pub sex: String,
    pub age_group: String,
    pub population: u64,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Icd10Group {
    pub prefix: String,
    pub group: String,
}

/// One row of `kommune_history.csv`: a municipality code's validity and one of its successors on
/// 2024 borders (a code still valid is its own successor; a split code has a row per successor).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct KommuneHistoryRow {
    pub kommune: String,
    pub name: String,
    pub valid_from: NaiveDate,
    /// The first day the code is no longer valid; `None` while it is.
    pub valid_to: Option<NaiveDate>,
    pub successor: String,
}

impl KommuneHistoryRow {
    /// A history in which every municipality among `areas` was always valid and is its own
    /// successor, as if there had been no reforms: the default of [`Reference::from_tables`].
    pub fn always_valid(areas: &[Area]) -> Vec<KommuneHistoryRow> {
        areas
            .iter()
            .filter(|a| a.kind == "kommune")
            .map(|a| KommuneHistoryRow {
                kommune: a.area.clone(),
                name: a.name.clone(),
                valid_from: HISTORY_START,
                valid_to: None,
                successor: a.area.clone(),
            })
            .collect()
    }
}

/// The draw that places a person of a split municipality code in one of its successors
/// ([`Reference::kommune_2024`]): the 64-bit XXH3 of the birth date (`YYYY-MM-DD`), `|` and the sex
/// code (`M`/`F`), so a person goes the same way in every row and year, independent of the
/// pseudonymisation key, and people spread over the successors as their inhabitants do.
pub fn allocation_draw(birth_date: NaiveDate, sex: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(format!("{birth_date}|{sex}").as_bytes())
}

/// A municipality code as the history knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KommuneCode {
    pub name: String,
    pub valid_from: NaiveDate,
    /// Exclusive; `None` while valid.
    pub valid_to: Option<NaiveDate>,
    /// Its municipalities on 2024 borders: one, or several for a code that was split.
    pub successors: Vec<String>,
}

impl KommuneCode {
    /// Whether the code is valid on `date` (from [`HISTORY_START`] on, valid before it too).
    pub fn valid_on(&self, date: NaiveDate) -> bool {
        (date >= self.valid_from || self.valid_from <= HISTORY_START) && self.valid_to.is_none_or(|end| date < end)
    }

    /// The validity as a person reads it: `valid from 2020-01-01 to 2023-12-31` (the last day),
    /// `valid from 2024-01-01`.
    pub fn validity(&self) -> String {
        match self.valid_to {
            Some(end) => format!("valid from {} to {}", self.valid_from, end.pred_opt().unwrap_or(end)),
            None => format!("valid from {}", self.valid_from),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("reference table {table}: {source}")]
pub struct ReferenceError {
    table: &'static str,
    source: csv::Error,
}

/// The reference tables with the look-ups the contract checks need.
#[derive(Clone, Debug)]
pub struct Reference {
    pub regions: Vec<Region>,
    pub health_trusts: Vec<HealthTrust>,
    pub areas: Vec<Area>,
    pub population: Vec<PopulationRow>,
    pub icd10_groups: Vec<Icd10Group>,
    pub kommune_history: Vec<KommuneHistoryRow>,
    // Looked up for every row: keyed with a fast hash (short, trusted keys; no flooding concern).
    hf_region: FxHashMap<String, String>,
    /// Every code of the history.
    kommuner: FxHashMap<String, KommuneCode>,
    /// The codes each 2024 municipality descends from (itself first).
    predecessors: FxHashMap<String, Vec<String>>,
    /// For each split code and year, its successors with their inhabitants on 1 January.
    split_population: FxHashMap<(String, i32), Vec<(String, u64)>>,
    bydeler: FxHashSet<String>,
    icd10: FxHashMap<String, String>,
    /// The group of every code shaped letter-digit-digit by its longest prefix of up to three
    /// characters (index `letter * 100 + digits`), so that each row's look-up is one index. Where
    /// the table has a four-character prefix, codes are looked up by their prefixes instead.
    icd10_by_three: Vec<Option<String>>,
    icd10_has_four: bool,
}

/// The index of a letter-digit-digit start in `icd10_by_three`.
fn three_index(code: &[u8]) -> Option<usize> {
    match code {
        [l @ b'A'..=b'Z', d1 @ b'0'..=b'9', d2 @ b'0'..=b'9', ..] => {
            Some(usize::from(l - b'A') * 100 + usize::from(d1 - b'0') * 10 + usize::from(d2 - b'0'))
        }
        _ => None,
    }
}

fn table<T: for<'de> Deserialize<'de>>(table: &'static str, text: &str) -> Result<Vec<T>, ReferenceError> {
    csv::Reader::from_reader(text.as_bytes())
        .deserialize()
        .collect::<Result<_, _>>()
        .map_err(|source| ReferenceError { table, source })
}

impl Reference {
    /// The reference data built into this binary.
    pub fn embedded() -> Result<Reference, ReferenceError> {
        Ok(Self::from_tables(
            table("regions", REGIONS)?,
            table("health_trusts", HEALTH_TRUSTS)?,
            table("areas", AREAS)?,
            table("population", POPULATION)?,
            table("icd10_groups", ICD10_GROUPS)?,
        )
        .with_kommune_history(table("kommune_history", KOMMUNE_HISTORY)?))
    }

    /// Builds the look-ups over given tables (tests use small hand-made ones). The code history is
    /// the areas' municipalities, each valid at all times and its own successor, until
    /// [`Reference::with_kommune_history`] gives another.
    pub fn from_tables(
        regions: Vec<Region>,
        health_trusts: Vec<HealthTrust>,
        areas: Vec<Area>,
        population: Vec<PopulationRow>,
        icd10_groups: Vec<Icd10Group>,
    ) -> Reference {
        let hf_region = health_trusts.iter().map(|h| (h.hf.clone(), h.rhf.clone())).collect();
        let always = KommuneHistoryRow::always_valid(&areas);
        let bydeler = areas.iter().filter(|a| a.kind == "bydel").map(|a| a.area.clone()).collect();
        let icd10 = icd10_groups.iter().map(|g| (g.prefix.clone(), g.group.clone())).collect();
        let mut reference = Reference {
            regions,
            health_trusts,
            areas,
            population,
            icd10_groups,
            kommune_history: Vec::new(),
            hf_region,
            kommuner: FxHashMap::default(),
            predecessors: FxHashMap::default(),
            split_population: FxHashMap::default(),
            bydeler,
            icd10,
            icd10_by_three: Vec::new(),
            icd10_has_four: false,
        };
        reference.icd10_has_four = reference.icd10_groups.iter().any(|g| g.prefix.len() == 4);
        reference.icd10_by_three = (0..26 * 100)
            .map(|i| {
                let code = format!("{}{:02}", char::from(b'A' + (i / 100) as u8), i % 100);
                reference.icd10_group_by_prefixes(&code).map(str::to_string)
            })
            .collect();
        reference.with_kommune_history(always)
    }

    /// This reference with `rows` as its municipality code history.
    pub fn with_kommune_history(mut self, rows: Vec<KommuneHistoryRow>) -> Reference {
        let mut kommuner: FxHashMap<String, KommuneCode> = FxHashMap::default();
        for r in &rows {
            let code = kommuner.entry(r.kommune.clone()).or_insert_with(|| KommuneCode {
                name: r.name.clone(),
                valid_from: r.valid_from,
                valid_to: r.valid_to,
                successors: Vec::new(),
            });
            code.successors.push(r.successor.clone());
        }
        let mut predecessors: FxHashMap<String, Vec<String>> = FxHashMap::default();
        for (code, k) in &kommuner {
            for s in &k.successors {
                let list = predecessors.entry(s.clone()).or_default();
                if code == s { list.insert(0, code.clone()) } else { list.push(code.clone()) }
            }
        }
        for list in predecessors.values_mut() {
            list[1..].sort();
        }
        let mut inhabitants: FxHashMap<(&str, i32), u64> = FxHashMap::default();
        for p in &self.population {
            *inhabitants.entry((p.area.as_str(), p.year)).or_default() += p.population;
        }
        let years: FxHashSet<i32> = self.population.iter().map(|p| p.year).collect();
        let mut split_population = FxHashMap::default();
        for (code, k) in kommuner.iter().filter(|(_, k)| k.successors.len() > 1) {
            for &year in &years {
                let shares = k
                    .successors
                    .iter()
                    .map(|s| (s.clone(), inhabitants.get(&(s.as_str(), year)).copied().unwrap_or(0)))
                    .collect();
                split_population.insert((code.clone(), year), shares);
            }
        }
        self.kommune_history = rows;
        self.kommuner = kommuner;
        self.predecessors = predecessors;
        self.split_population = split_population;
        self
    }

    /// The region of a health trust.
    pub fn hf_region(&self, hf: &str) -> Option<&str> {
        self.hf_region.get(hf).map(String::as_str)
    }

    /// Whether `code` is a municipality code of the history (valid at some time since 2020).
    pub fn is_kommune(&self, code: &str) -> bool {
        self.kommuner.contains_key(code)
    }

    /// A municipality code's validity and successors.
    pub fn kommune(&self, code: &str) -> Option<&KommuneCode> {
        self.kommuner.get(code)
    }

    /// The municipality on 2024 borders that a row with `code` in `year` counts in: the code's
    /// successor, or for a split code one of its successors, chosen by `draw` (uniform over `u64`)
    /// in proportion to the successors' inhabitants on 1 January of the year (of the nearest year
    /// with population figures): the successor whose share of the cumulative population holds
    /// `draw · total / 2⁶⁴`. `None` for a code not in the history.
    pub fn kommune_2024(&self, code: &str, year: i32, draw: u64) -> Option<&str> {
        let k = self.kommuner.get(code)?;
        if k.successors.len() == 1 {
            return Some(&k.successors[0]);
        }
        let shares = self.split_shares(code, year)?;
        let total: u64 = shares.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return Some(&k.successors[0]);
        }
        let point = (u128::from(draw) * u128::from(total)) >> 64;
        let mut cumulative = 0u128;
        for (successor, n) in shares {
            cumulative += u128::from(*n);
            if point < cumulative {
                return Some(successor);
            }
        }
        Some(&k.successors[k.successors.len() - 1])
    }

    /// A split code's successors with their inhabitants in `year` (or the nearest year known).
    pub fn split_shares(&self, code: &str, year: i32) -> Option<&[(String, u64)]> {
        let years = self.split_population.keys().filter(|(c, _)| c == code).map(|(_, y)| *y);
        let nearest = years.min_by_key(|y| ((y - year).abs(), *y))?;
        self.split_population.get(&(code.to_string(), nearest)).map(Vec::as_slice)
    }

    /// Whether `code` was split between several municipalities of 2024.
    pub fn is_split(&self, code: &str) -> bool {
        self.kommuner.get(code).is_some_and(|k| k.successors.len() > 1)
    }

    /// The code that a municipality of 2024 (`code`) had on `date`: itself where valid then, else the
    /// code it descends from that was valid then (as an extract of that day would carry it).
    pub fn kommune_on<'a>(&'a self, code: &'a str, date: NaiveDate) -> &'a str {
        let Some(candidates) = self.predecessors.get(code) else { return code };
        candidates
            .iter()
            .find(|c| self.kommuner.get(c.as_str()).is_some_and(|k| k.valid_on(date)))
            .map_or(code, String::as_str)
    }

    pub fn is_bydel(&self, code: &str) -> bool {
        self.bydeler.contains(code)
    }

    /// The diagnosis group of an ICD-10 code by the longest matching prefix (the dot ignored).
    pub fn icd10_group(&self, code: &str) -> Option<&str> {
        match three_index(code.as_bytes()) {
            Some(i) if !self.icd10_has_four => self.icd10_by_three[i].as_deref(),
            _ => self.icd10_group_by_prefixes(code),
        }
    }

    /// [`Reference::icd10_group`] by looking up each prefix, longest first.
    fn icd10_group_by_prefixes(&self, code: &str) -> Option<&str> {
        let code: String = code.chars().filter(|c| *c != '.').collect();
        (1..=code.len().min(4)).rev().find_map(|n| code.get(..n).and_then(|p| self.icd10.get(p))).map(String::as_str)
    }

    /// An area by code.
    pub fn area(&self, code: &str) -> Option<&Area> {
        self.areas.iter().find(|a| a.area == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_load_and_agree() {
        let r = Reference::embedded().unwrap();
        assert_eq!(r.regions.len(), 4);
        assert!(r.health_trusts.iter().all(|h| r.regions.iter().any(|g| g.rhf == h.rhf)));
        // Every catchment HF is a known health trust, and every area but Oslo itself has one.
        for a in &r.areas {
            match &a.hf {
                Some(hf) => assert!(r.hf_region(hf).is_some(), "{} has unknown hf {hf}", a.area),
                None => assert_eq!(a.area, OSLO),
            }
        }
        assert_eq!(r.areas.iter().filter(|a| a.kind == "kommune").count(), 357);
        assert!(r.is_bydel("030101") && !r.is_kommune("030101") && r.is_kommune(OSLO));
        assert_eq!(r.areas.iter().filter(|a| a.sami_area).count(), 13);
        // Population for every year 2020–2026, positive in total.
        for y in 2020..=2026 {
            let total: u64 = r.population.iter().filter(|p| p.year == y).map(|p| p.population).sum();
            assert!(total > 5_000_000, "{y}: {total}");
        }
    }

    /// The code history against the 2024 list: every municipality of `areas.csv` is valid from
    /// 2024 on and its own successor, every code retired since 2020 maps onto municipalities of
    /// 2024, and the reforms of 2024 are there as SSB's classification has them.
    #[test]
    fn the_code_history_maps_every_code_onto_2024_borders() {
        let r = Reference::embedded().unwrap();
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let current: FxHashSet<&str> =
            r.areas.iter().filter(|a| a.kind == "kommune").map(|a| a.area.as_str()).collect();
        let valid = |d: &str| -> FxHashSet<&str> {
            r.kommuner.iter().filter(|(_, k)| k.valid_on(day(d))).map(|(c, _)| c.as_str()).collect()
        };
        assert_eq!(valid("2024-01-01"), current, "the codes valid in 2024 are the 357 of areas.csv");
        assert_eq!(valid("2026-06-30"), current);
        assert_eq!(valid("2023-12-31").len(), 356);
        assert_eq!(valid("2020-01-01"), valid("2023-12-31"), "no change between 2020 and 2024");
        for (code, k) in &r.kommuner {
            assert!(!k.successors.is_empty(), "{code}");
            for s in &k.successors {
                assert!(current.contains(s.as_str()), "{code} → {s}: not a municipality of 2024");
            }
            if current.contains(code.as_str()) {
                assert_eq!(k.successors, vec![code.clone()], "{code} is its own successor");
                assert!(k.valid_to.is_none(), "{code}");
            } else {
                assert_eq!(k.valid_to, Some(day("2024-01-01")), "{code} retired with the 2024 reform");
            }
        }
        assert_eq!(r.kommuner.len(), 357 + 114);
        // Viken, Vestfold og Telemark and Troms og Finnmark were renumbered; Ålesund was split.
        assert_eq!(r.kommune("3024").unwrap().successors, ["3201"], "Bærum");
        assert_eq!(r.kommune("3804").unwrap().successors, ["3907"], "Sandefjord");
        assert_eq!(r.kommune("3807").unwrap().successors, ["4003"], "Skien");
        assert_eq!(r.kommune("5401").unwrap().successors, ["5501"], "Tromsø");
        assert_eq!(r.kommune("1507").unwrap().successors, ["1508", "1580"], "Ålesund and Haram");
        assert_eq!(r.kommune("3024").unwrap().validity(), "valid from 2020-01-01 to 2023-12-31");
        assert_eq!(r.kommune("3201").unwrap().validity(), "valid from 2024-01-01");
        assert!(r.is_split("1507") && !r.is_split("3024") && !r.is_split("0301"));
        // Back from 2024 to the code of a day.
        assert_eq!(r.kommune_on("3201", day("2023-06-01")), "3024");
        assert_eq!(r.kommune_on("3201", day("2024-06-01")), "3201");
        assert_eq!(r.kommune_on("1580", day("2021-03-01")), "1507");
        assert_eq!(r.kommune_on("0301", day("2021-03-01")), "0301");
        // Before the history starts, a code valid on its first day counts as valid.
        assert!(r.kommune("0301").unwrap().valid_on(day("2019-05-01")));
        assert!(!r.kommune("3201").unwrap().valid_on(day("2023-12-31")));
    }

    /// A split code's rows go to its successors in proportion to their inhabitants of the year.
    #[test]
    fn a_split_code_is_allocated_by_the_successors_population() {
        let r = Reference::embedded().unwrap();
        let shares = r.split_shares("1507", 2022).unwrap();
        let (alesund, haram) = (shares[0].1, shares[1].1);
        assert_eq!((shares[0].0.as_str(), shares[1].0.as_str()), ("1508", "1580"));
        let pop = |area: &str, year: i32| -> u64 {
            r.population.iter().filter(|p| p.area == area && p.year == year).map(|p| p.population).sum()
        };
        assert_eq!((alesund, haram), (pop("1508", 2022), pop("1580", 2022)));
        // The population table redistributes 1507 of 2020–2023 evenly between its successors
        // (FHI's csdata weights); from 2024 on the two are counted apart.
        assert_eq!(alesund, haram);
        let later = r.split_shares("1507", 2024).unwrap();
        assert!(later[0].1 > 5 * later[1].1 && later[1].1 > 8_000, "{later:?}");
        // The boundary: draws below total_1508 / total · 2⁶⁴ go to Ålesund.
        let total = u128::from(alesund + haram);
        let boundary = ((u128::from(alesund) << 64) / total) as u64;
        assert_eq!(r.kommune_2024("1507", 2022, 0), Some("1508"));
        assert_eq!(r.kommune_2024("1507", 2022, boundary - 1), Some("1508"));
        assert_eq!(r.kommune_2024("1507", 2022, boundary + 1), Some("1580"));
        assert_eq!(r.kommune_2024("1507", 2022, u64::MAX), Some("1580"));
        // Evenly spread draws follow the shares.
        let n = 100_000u64;
        let to_haram = (0..n).filter(|i| r.kommune_2024("1507", 2022, i * (u64::MAX / n)) == Some("1580")).count();
        let expected = n as f64 * haram as f64 / total as f64;
        assert!((to_haram as f64 - expected).abs() < 2.0, "{to_haram} ≈ {expected}");
        // A renumbered code has one successor whatever the draw; an unknown one has none.
        assert_eq!(r.kommune_2024("3024", 2022, 12345), Some("3201"));
        assert_eq!(r.kommune_2024("0000", 2022, 1), None);
        // Years without population figures take the nearest year's.
        assert_eq!(r.split_shares("1507", 2019), r.split_shares("1507", 2020));
    }

    #[test]
    fn icd10_longest_prefix() {
        let r = Reference::embedded().unwrap();
        assert_eq!(r.icd10_group("E11.9"), Some("diabetes"));
        assert_eq!(r.icd10_group("F10.2"), Some("rus")); // F1 beats F
        assert_eq!(r.icd10_group("F32.1"), Some("psykisk_helse"));
        assert_eq!(r.icd10_group("J44"), Some("lunge"));
        assert_eq!(r.icd10_group("J20"), None);
        assert_eq!(r.icd10_group("E84.0"), Some("sjeldne"));
    }

    /// The one-index look-up agrees with looking up each prefix, for every code shape.
    #[test]
    fn icd10_table_agrees_with_prefix_look_ups() {
        let r = Reference::embedded().unwrap();
        for l in b'A'..=b'Z' {
            for d in 0..100 {
                for rest in ["", ".9", "9", ".X1"] {
                    let code = format!("{}{d:02}{rest}", char::from(l));
                    assert_eq!(r.icd10_group(&code), r.icd10_group_by_prefixes(&code), "{code}");
                }
            }
        }
        // A four-character prefix in the table wins over the three-character one.
        let mut groups = r.icd10_groups.clone();
        groups.push(Icd10Group { prefix: "E119".into(), group: "four".into() });
        let with_four = Reference::from_tables(vec![], vec![], vec![], vec![], groups);
        assert_eq!(with_four.icd10_group("E11.9"), Some("four"));
        assert_eq!(with_four.icd10_group("E11.8"), Some("diabetes"));
    }

    #[test]
    fn age_groups() {
        assert_eq!(age_group(0), "0-19");
        assert_eq!(age_group(19), "0-19");
        assert_eq!(age_group(20), "20-39");
        assert_eq!(age_group(79), "60-79");
        assert_eq!(age_group(80), "80+");
        assert_eq!(age_group(104), "80+");
    }
}
