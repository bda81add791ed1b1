//! Reference data, versioned with the code (`schemas/reference/*.csv`, see its README for sources):
//! regions, health trusts, areas (municipalities and Oslo's city districts with their catchment HF),
//! population and ICD-10 groups. Embedded in the binary so that every command works from a clone.

use rustc_hash::{FxHashMap, FxHashSet};

use serde::Deserialize;

const REGIONS: &str = include_str!("../reference/regions.csv");
const HEALTH_TRUSTS: &str = include_str!("../reference/health_trusts.csv");
const AREAS: &str = include_str!("../reference/areas.csv");
const POPULATION: &str = include_str!("../reference/population.csv");
const ICD10_GROUPS: &str = include_str!("../reference/icd10_groups.csv");

/// The reference tables as CSV text (name, text), as embedded: for engines that read them directly.
pub const TABLES: [(&str, &str); 5] = [
    ("regions", REGIONS),
    ("health_trusts", HEALTH_TRUSTS),
    ("areas", AREAS),
    ("population", POPULATION),
    ("icd10_groups", ICD10_GROUPS),
];

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
    // Looked up for every row: keyed with a fast hash (short, trusted keys; no flooding concern).
    hf_region: FxHashMap<String, String>,
    kommuner: FxHashSet<String>,
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
        ))
    }

    /// Builds the look-ups over given tables (tests use small hand-made ones).
    pub fn from_tables(
        regions: Vec<Region>,
        health_trusts: Vec<HealthTrust>,
        areas: Vec<Area>,
        population: Vec<PopulationRow>,
        icd10_groups: Vec<Icd10Group>,
    ) -> Reference {
        let hf_region = health_trusts.iter().map(|h| (h.hf.clone(), h.rhf.clone())).collect();
        let kommuner = areas.iter().filter(|a| a.kind == "kommune").map(|a| a.area.clone()).collect();
        let bydeler = areas.iter().filter(|a| a.kind == "bydel").map(|a| a.area.clone()).collect();
        let icd10 = icd10_groups.iter().map(|g| (g.prefix.clone(), g.group.clone())).collect();
        let mut reference = Reference {
            regions,
            health_trusts,
            areas,
            population,
            icd10_groups,
            hf_region,
            kommuner,
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
        reference
    }

    /// The region of a health trust.
    pub fn hf_region(&self, hf: &str) -> Option<&str> {
        self.hf_region.get(hf).map(String::as_str)
    }

    pub fn is_kommune(&self, code: &str) -> bool {
        self.kommuner.contains(code)
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
