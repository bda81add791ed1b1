//! The demo's world: who lives where (real population), which health trust serves them, and the
//! deterministic differences between catchment areas that the indicators should find.

use std::collections::{BTreeMap, HashMap};

use lms_schemas::Reference;
use lms_schemas::dialect::Rhf;
use lms_schemas::reference::{AGE_GROUPS, OSLO};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::rng::stream;

/// A home area with population and a catchment: a municipality, or an Oslo city district.
#[derive(Clone, Debug)]
pub struct HomeArea {
    pub area: String,
    /// `bostedskommune` as written in the coding extract.
    pub kommune: String,
    /// `bydel` for Oslo districts.
    pub bydel: Option<String>,
    pub hf: String,
    pub rhf: Rhf,
    pub size_class: u8,
    pub sami_area: bool,
}

pub struct World<'r> {
    pub reference: &'r Reference,
    pub homes: Vec<HomeArea>,
    /// Population by (year, area) and stratum `sex * 5 + age group` (sex 0 = M, 1 = F).
    population: HashMap<(i32, String), [u64; 10]>,
    /// Health trusts of each region, sorted.
    pub region_hfs: BTreeMap<Rhf, Vec<String>>,
    /// Multiplier of group education reach among residents of each catchment (unwarranted variation).
    pub reach: HashMap<String, f64>,
    /// Share of a provider's education contacts it codes with A0099 (coding practice).
    pub a0099_coding: HashMap<String, f64>,
    /// Multiplier of course volume per provider.
    pub course_volume: HashMap<String, f64>,
    /// Municipalities in each HF's catchment, for `samarbeid_kommune`.
    pub catchment_kommuner: HashMap<String, Vec<String>>,
}

impl<'r> World<'r> {
    pub fn new(reference: &'r Reference, seed: u64) -> World<'r> {
        let mut rng: ChaCha8Rng = stream(seed, "world");
        let rhf_of = |hf: &str| -> Rhf { reference.hf_region(hf).and_then(|r| r.parse().ok()).expect("known hf") };
        let mut region_hfs: BTreeMap<Rhf, Vec<String>> = BTreeMap::new();
        for h in &reference.health_trusts {
            region_hfs.entry(rhf_of(&h.hf)).or_default().push(h.hf.clone());
        }
        region_hfs.values_mut().for_each(|v| v.sort());
        let mut hfs: Vec<&String> = region_hfs.values().flatten().collect();
        hfs.sort();
        let mut reach = HashMap::new();
        let mut a0099_coding = HashMap::new();
        let mut course_volume = HashMap::new();
        for hf in hfs {
            // Log-uniform between 0.55 and 1.6: the spread a Helseatlas would call large.
            reach.insert(hf.clone(), (rng.random_range(0.55f64.ln()..1.6f64.ln())).exp());
            a0099_coding.insert(hf.clone(), rng.random_range(0.55..0.95));
            course_volume.insert(hf.clone(), rng.random_range(0.7..1.4));
        }
        let mut homes = Vec::new();
        let mut catchment_kommuner: HashMap<String, Vec<String>> = HashMap::new();
        for a in &reference.areas {
            let Some(hf) = &a.hf else { continue };
            let (kommune, bydel) =
                if a.kind == "bydel" { (OSLO.to_string(), Some(a.area.clone())) } else { (a.area.clone(), None) };
            if bydel.is_none() {
                catchment_kommuner.entry(hf.clone()).or_default().push(a.area.clone());
            }
            homes.push(HomeArea {
                area: a.area.clone(),
                kommune,
                bydel,
                hf: hf.clone(),
                rhf: rhf_of(hf),
                size_class: a.size_class,
                sami_area: a.sami_area,
            });
        }
        homes.sort_by(|a, b| a.area.cmp(&b.area));
        catchment_kommuner.values_mut().for_each(|v| v.sort());
        let mut population: HashMap<(i32, String), [u64; 10]> = HashMap::new();
        for p in &reference.population {
            let sex = usize::from(p.sex == "F");
            let age = AGE_GROUPS.iter().position(|g| *g == p.age_group).expect("known age group");
            population.entry((p.year, p.area.clone())).or_default()[sex * 5 + age] += p.population;
        }
        World { reference, homes, population, region_hfs, reach, a0099_coding, course_volume, catchment_kommuner }
    }

    /// Population of an area by stratum; years past the table use its last year.
    pub fn population(&self, year: i32, area: &str) -> [u64; 10] {
        let year = year.clamp(2020, 2026);
        self.population.get(&(year, area.to_string())).copied().unwrap_or_default()
    }

    /// Inhabitants of a health trust's catchment.
    pub fn catchment_population(&self, year: i32, hf: &str) -> u64 {
        self.homes.iter().filter(|h| h.hf == hf).map(|h| self.population(year, &h.area).iter().sum::<u64>()).sum()
    }

    pub fn rhf_of(&self, hf: &str) -> Rhf {
        self.reference.hf_region(hf).and_then(|r| r.parse().ok()).expect("known hf")
    }
}
