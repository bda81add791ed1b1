//! The rules of the contract, by name. A rejected row or file always carries one of these, so that
//! quarantine, `lms check`, run history and metrics count the same things under the same names.

use std::fmt;

/// A rule of extracts.md that a row or a whole file can break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    // Rules that reject one row.
    /// A CSV record with the wrong number of fields, or a JSON line that is not an object.
    MalformedRecord,
    /// A record (a line, or a CSV record with its quoted line breaks) over 1 MiB: read no further.
    RecordTooLong,
    /// A NUL byte in a value.
    NulByte,
    /// A required value is empty or missing.
    Required,
    /// A value that does not parse as its type in the source's dialect (date, integer, decimal, bool, list item).
    Format,
    /// A value outside its code list.
    Code,
    /// A text longer (or shorter) than allowed.
    Length,
    /// A number outside its allowed range.
    Range,
    /// A date outside the delivery's period.
    Period,
    /// `sluttdato` before `startdato` or more than 366 days after it.
    DateOrder,
    /// A `rhf` value other than the delivering region.
    RhfMismatch,
    /// An `hf` that is not a health trust of the region.
    UnknownHf,
    /// A kommunenummer not in the reference list.
    UnknownKommune,
    /// A kommunenummer used on a date outside its validity (the code history).
    KommuneNotValidOnDate,
    /// A `bydel` that is not an Oslo district, or given without `bostedskommune` 0301.
    Bydel,
    /// An invalid identity number (length, check digits, date or individual number).
    Fodselsnummer,
    /// A valid identity number in any other field (a title, an id, a code): the row is rejected
    /// and the number masked wherever the value is kept.
    IdentityNumberInText,
    /// An ICD-10 code of the wrong form or outside the LMS diagnosis groups.
    Icd10,
    /// `fullfort` greater than the participants.
    Completed,
    /// A cancelled course run with participants.
    CancelledParticipants,
    /// `pam_niva` that disagrees with `pam_score`.
    PamLevel,
    /// An id repeated within (rhf, hf) in one delivery: every row carrying it is rejected.
    DuplicateId,
    // Rules that reject a whole file.
    /// A file name that breaks the delivery naming convention.
    FileName,
    /// A file whose `{rhf}` is not the source's region.
    FileRhf,
    /// A file that cannot be decoded in the source's encoding.
    Undecodable,
    /// A CSV file that lacks a required column.
    MissingColumn,
    /// A file that cannot be read at all (I/O).
    Unreadable,
}

impl Rule {
    /// Every rule, row rules first.
    pub const ALL: [Rule; 27] = [
        Rule::MalformedRecord,
        Rule::RecordTooLong,
        Rule::NulByte,
        Rule::Required,
        Rule::Format,
        Rule::Code,
        Rule::Length,
        Rule::Range,
        Rule::Period,
        Rule::DateOrder,
        Rule::RhfMismatch,
        Rule::UnknownHf,
        Rule::UnknownKommune,
        Rule::KommuneNotValidOnDate,
        Rule::Bydel,
        Rule::Fodselsnummer,
        Rule::IdentityNumberInText,
        Rule::Icd10,
        Rule::Completed,
        Rule::CancelledParticipants,
        Rule::PamLevel,
        Rule::DuplicateId,
        Rule::FileName,
        Rule::FileRhf,
        Rule::Undecodable,
        Rule::MissingColumn,
        Rule::Unreadable,
    ];

    /// The stable name used in quarantine, reports, metrics labels and the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::MalformedRecord => "malformed_record",
            Rule::RecordTooLong => "record_too_long",
            Rule::NulByte => "nul_byte",
            Rule::Required => "required",
            Rule::Format => "format",
            Rule::Code => "code",
            Rule::Length => "length",
            Rule::Range => "range",
            Rule::Period => "period",
            Rule::DateOrder => "date_order",
            Rule::RhfMismatch => "rhf_mismatch",
            Rule::UnknownHf => "unknown_hf",
            Rule::UnknownKommune => "unknown_kommune",
            Rule::KommuneNotValidOnDate => "kommune_not_valid_on_date",
            Rule::Bydel => "bydel",
            Rule::Fodselsnummer => "fodselsnummer",
            Rule::IdentityNumberInText => "identity_number_in_text",
            Rule::Icd10 => "icd10",
            Rule::Completed => "completed",
            Rule::CancelledParticipants => "cancelled_participants",
            Rule::PamLevel => "pam_level",
            Rule::DuplicateId => "duplicate_id",
            Rule::FileName => "file_name",
            Rule::FileRhf => "file_rhf",
            Rule::Undecodable => "undecodable",
            Rule::MissingColumn => "missing_column",
            Rule::Unreadable => "unreadable",
        }
    }

    /// Looks a rule up by its stable name.
    pub fn parse(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether breaking this rule rejects the whole file rather than one row.
    pub fn rejects_file(self) -> bool {
        matches!(self, Rule::FileName | Rule::FileRhf | Rule::Undecodable | Rule::MissingColumn | Rule::Unreadable)
    }

    /// One line of what the rule asks, for reports and the generated contract docs.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::MalformedRecord => "a CSV record has as many fields as the header; a JSON line is one object",
            Rule::RecordTooLong => "a record is at most 1 MiB",
            Rule::NulByte => "no value holds a NUL byte",
            Rule::Required => "a required value is present",
            Rule::Format => "a value parses as its type in the source's dialect",
            Rule::Code => "a code is in its code list",
            Rule::Length => "a text is within its length",
            Rule::Range => "a number is within its range",
            Rule::Period => "a date is within the delivery's period",
            Rule::DateOrder => "sluttdato ≥ startdato and ≤ startdato + 366 days",
            Rule::RhfMismatch => "rhf is the delivering region",
            Rule::UnknownHf => "hf is a health trust of the region",
            Rule::UnknownKommune => "a kommunenummer is in the reference list",
            Rule::KommuneNotValidOnDate => "a kommunenummer is valid on the row's date (the code history)",
            Rule::Bydel => "bydel is an Oslo district, given only with bostedskommune 0301",
            Rule::Fodselsnummer => "a valid fødselsnummer, D-, H- or synthetic test number",
            Rule::IdentityNumberInText => {
                "no identity number (11 digits, or 6 + 5 with a space, hyphen or dot) outside fodselsnummer"
            }
            Rule::Icd10 => "an ICD-10 code that maps to an LMS diagnosis group",
            Rule::Completed => "fullfort ≤ deltakere_pasient + deltakere_parorende",
            Rule::CancelledParticipants => "a cancelled run has 0 participants",
            Rule::PamLevel => "pam_niva agrees with pam_score",
            Rule::DuplicateId => "an id is unique within (rhf, hf) in one delivery",
            Rule::FileName => "the file is named {rhf}_{extract}_{YYYY}-{MM}[_v{N}].{csv|jsonl}",
            Rule::FileRhf => "the file's region is the source's region",
            Rule::Undecodable => "the file decodes in the source's encoding",
            Rule::MissingColumn => "the header has every required column",
            Rule::Unreadable => "the file can be read",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Rule::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown rule `{name}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut names: Vec<_> = Rule::ALL.iter().map(|r| r.as_str()).collect();
        for r in Rule::ALL {
            assert_eq!(Rule::parse(r.as_str()), Some(r));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Rule::ALL.len());
    }
}
