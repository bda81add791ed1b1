//! The four regions and the file dialect each delivers in (extracts.md, "Regions and dialects").
//! The dialect is a property of the configured source, never guessed from a file.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

/// A regional health authority (RHF).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rhf {
    /// Helse Sør-Øst.
    Hso,
    /// Helse Vest.
    Hv,
    /// Helse Midt-Norge.
    Hmn,
    /// Helse Nord.
    Hn,
}

impl Rhf {
    /// All four, in the order of the reference list.
    pub const ALL: [Rhf; 4] = [Rhf::Hso, Rhf::Hv, Rhf::Hmn, Rhf::Hn];

    /// The code used in files, paths and tables.
    pub fn code(self) -> &'static str {
        match self {
            Rhf::Hso => "HSO",
            Rhf::Hv => "HV",
            Rhf::Hmn => "HMN",
            Rhf::Hn => "HN",
        }
    }

    /// The dialect this region delivers in.
    pub fn dialect(self) -> Dialect {
        match self {
            Rhf::Hso => Dialect {
                format: FileFormat::Csv { delimiter: b',' },
                encoding: Encoding::Utf8,
                dates: DateFormat::Iso,
                decimal_mark: '.',
                line_end: LineEnd::Lf,
            },
            Rhf::Hv => Dialect {
                format: FileFormat::Csv { delimiter: b';' },
                encoding: Encoding::Windows1252,
                dates: DateFormat::Norwegian,
                decimal_mark: ',',
                line_end: LineEnd::CrLf,
            },
            Rhf::Hmn => Dialect {
                format: FileFormat::JsonLines,
                encoding: Encoding::Utf8,
                dates: DateFormat::Iso,
                decimal_mark: '.',
                line_end: LineEnd::Lf,
            },
            Rhf::Hn => Dialect {
                format: FileFormat::Csv { delimiter: b';' },
                encoding: Encoding::Utf8Bom,
                dates: DateFormat::Norwegian,
                decimal_mark: ',',
                line_end: LineEnd::CrLf,
            },
        }
    }
}

impl fmt::Display for Rhf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Rhf {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rhf::ALL
            .into_iter()
            .find(|r| r.code() == s)
            .ok_or_else(|| format!("unknown region `{s}` (expected HSO, HV, HMN or HN)"))
    }
}

/// How a source's files are laid out and encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect {
    pub format: FileFormat,
    pub encoding: Encoding,
    pub dates: DateFormat,
    /// `.` or `,`; JSON Lines uses JSON numbers and ignores it.
    pub decimal_mark: char,
    /// What the region writes. The reader accepts LF and CRLF alike: line ends carry no data.
    pub line_end: LineEnd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// CSV with a header row, fields quoted with `"`.
    Csv { delimiter: u8 },
    /// One JSON object a line.
    JsonLines,
}

impl FileFormat {
    /// The file extension of a delivery in this format.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv { .. } => "csv",
            FileFormat::JsonLines => "jsonl",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 without a byte order mark; a BOM makes the file undecodable.
    Utf8,
    /// UTF-8 that starts with the byte order mark EF BB BF; a file without it is undecodable.
    Utf8Bom,
    /// Windows-1252; the five undefined bytes 0x81, 0x8D, 0x8F, 0x90, 0x9D make a file undecodable.
    Windows1252,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateFormat {
    /// `YYYY-MM-DD`.
    Iso,
    /// `DD.MM.YYYY`.
    Norwegian,
}

impl DateFormat {
    /// Parses a date strictly: exactly this layout, zero-padded, a real calendar day.
    pub fn parse(self, s: &str) -> Option<NaiveDate> {
        let b = s.as_bytes();
        if b.len() != 10 {
            return None;
        }
        let (y, m, d) = match self {
            DateFormat::Iso if b[4] == b'-' && b[7] == b'-' => (&b[0..4], &b[5..7], &b[8..10]),
            DateFormat::Norwegian if b[2] == b'.' && b[5] == b'.' => (&b[6..10], &b[3..5], &b[0..2]),
            _ => return None,
        };
        NaiveDate::from_ymd_opt(digits(y)? as i32, digits(m)?, digits(d)?)
    }

    /// Writes a date in this layout.
    pub fn format(self, d: NaiveDate) -> String {
        match self {
            DateFormat::Iso => d.format("%Y-%m-%d").to_string(),
            DateFormat::Norwegian => d.format("%d.%m.%Y").to_string(),
        }
    }

    /// The layout, as shown in error messages.
    pub fn pattern(self) -> &'static str {
        match self {
            DateFormat::Iso => "YYYY-MM-DD",
            DateFormat::Norwegian => "DD.MM.YYYY",
        }
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEnd {
    Lf,
    CrLf,
}

impl LineEnd {
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnd::Lf => b"\n",
            LineEnd::CrLf => b"\r\n",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_strict_per_dialect() {
        let d = NaiveDate::from_ymd_opt(2025, 3, 7).unwrap();
        assert_eq!(DateFormat::Iso.parse("2025-03-07"), Some(d));
        assert_eq!(DateFormat::Norwegian.parse("07.03.2025"), Some(d));
        // Another region's format is invalid.
        assert_eq!(DateFormat::Iso.parse("07.03.2025"), None);
        assert_eq!(DateFormat::Norwegian.parse("2025-03-07"), None);
        // Not zero-padded, not a calendar day, stray characters.
        assert_eq!(DateFormat::Iso.parse("2025-3-07"), None);
        assert_eq!(DateFormat::Iso.parse("2025-02-29"), None);
        assert_eq!(DateFormat::Iso.parse("2024-02-29"), NaiveDate::from_ymd_opt(2024, 2, 29));
        assert_eq!(DateFormat::Norwegian.parse("+7.03.2025"), None);
        assert_eq!(DateFormat::Iso.parse(" 2025-03-0"), None);
        for f in [DateFormat::Iso, DateFormat::Norwegian] {
            assert_eq!(f.parse(&f.format(d)), Some(d));
        }
    }

    #[test]
    fn region_codes_parse() {
        for r in Rhf::ALL {
            assert_eq!(r.code().parse::<Rhf>(), Ok(r));
        }
        assert!("hv".parse::<Rhf>().is_err());
    }
}
