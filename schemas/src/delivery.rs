//! Delivery file names: `{rhf}_{extract}_{YYYY}-{MM}[_v{N}].{csv|jsonl}` (extracts.md, "Deliveries").

use std::fmt;

use crate::contract::ExtractKind;
use crate::dialect::Rhf;

/// A calendar month, the period a delivery's rows belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    /// 1–12.
    pub month: u32,
}

impl Period {
    pub fn new(year: i32, month: u32) -> Option<Period> {
        ((1..=12).contains(&month) && (1000..=9999).contains(&year)).then_some(Period { year, month })
    }

    /// The first day of the month.
    pub fn first_day(self) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid period")
    }

    /// The number of days in the month.
    pub fn days(self) -> u32 {
        let next = self.next().first_day();
        (next - self.first_day()).num_days() as u32
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period { year: self.year + 1, month: 1 }
        } else {
            Period { year: self.year, month: self.month + 1 }
        }
    }

    pub fn contains(self, d: chrono::NaiveDate) -> bool {
        use chrono::Datelike;
        d.year() == self.year && d.month() == self.month
    }

    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Option<Period> {
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' || !b.iter().enumerate().all(|(i, c)| i == 4 || c.is_ascii_digit()) {
            return None;
        }
        Period::new(s[0..4].parse().ok()?, s[5..7].parse().ok()?)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// What a delivery's file name says about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Delivery {
    pub rhf: Rhf,
    pub extract: ExtractKind,
    pub period: Period,
    /// 1 for the first delivery, N for `_vN`.
    pub version: u32,
    /// `csv` or `jsonl`.
    pub extension: String,
}

impl Delivery {
    /// Parses a file name (no directory). The error says what is wrong with it.
    pub fn parse(file_name: &str) -> Result<Delivery, String> {
        let expected = "expected {rhf}_{extract}_{YYYY}-{MM}[_v{N}].{csv|jsonl}";
        let (stem, extension) = file_name.rsplit_once('.').ok_or_else(|| format!("no file extension; {expected}"))?;
        if extension != "csv" && extension != "jsonl" {
            return Err(format!("extension `.{extension}`; {expected}"));
        }
        let parts: Vec<&str> = stem.split('_').collect();
        let (rhf, extract, period, version) = match parts.as_slice() {
            [r, e, p] => (*r, *e, *p, None),
            [r, e, p, v] => (*r, *e, *p, Some(*v)),
            _ => return Err(format!("`{file_name}` has {} parts; {expected}", parts.len())),
        };
        let rhf: Rhf = rhf.parse().map_err(|e| format!("{e}; {expected}"))?;
        let extract: ExtractKind = extract.parse().map_err(|e| format!("{e}; {expected}"))?;
        let period = Period::parse(period).ok_or_else(|| format!("period `{period}` is not YYYY-MM; {expected}"))?;
        let version = match version {
            None => 1,
            Some(v) => v
                .strip_prefix('v')
                .filter(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) && !n.starts_with('0'))
                .and_then(|n| n.parse().ok())
                .filter(|n| *n >= 2)
                .ok_or_else(|| format!("version suffix `{v}` is not _v2, _v3, …; {expected}"))?,
        };
        Ok(Delivery { rhf, extract, period, version, extension: extension.to_string() })
    }

    /// The file name this delivery has.
    pub fn file_name(&self) -> String {
        let v = if self.version > 1 { format!("_v{}", self.version) } else { String::new() };
        format!("{}_{}_{}{}.{}", self.rhf, self.extract, self.period, v, self.extension)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_of_the_convention() {
        let d = Delivery::parse("HV_activity_2025-03_v2.csv").unwrap();
        assert_eq!(d.rhf, Rhf::Hv);
        assert_eq!(d.extract, ExtractKind::Activity);
        assert_eq!(d.period, Period { year: 2025, month: 3 });
        assert_eq!(d.version, 2);
        assert_eq!(d.file_name(), "HV_activity_2025-03_v2.csv");
        let d = Delivery::parse("HMN_coding_2020-12.jsonl").unwrap();
        assert_eq!((d.version, d.extension.as_str()), (1, "jsonl"));
    }

    #[test]
    fn rejects_names_off_the_convention() {
        for bad in [
            "HV_activity_2025-3.csv",
            "HV_activity_2025-13.csv",
            "hv_activity_2025-03.csv",
            "HV_aktivitet_2025-03.csv",
            "HV_activity_2025-03.xlsx",
            "HV_activity_2025-03_v1.csv",
            "HV_activity_2025-03_v02.csv",
            "HV_activity_2025-03_final.csv",
            "HV_activity.csv",
            "export.csv",
            "HV_activity_2025-03",
        ] {
            assert!(Delivery::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn period_days_and_order() {
        assert_eq!(Period::new(2024, 2).unwrap().days(), 29);
        assert_eq!(Period::new(2025, 12).unwrap().next(), Period::new(2026, 1).unwrap());
        assert!(Period::new(2025, 1).unwrap() < Period::new(2025, 2).unwrap());
        assert_eq!(Period::parse("2025-03").unwrap().to_string(), "2025-03");
    }
}
