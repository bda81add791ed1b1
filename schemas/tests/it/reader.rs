//! Dialect handling and file-level rejections.

use std::io::Read;

use lms_schemas::dialect::Rhf;
use lms_schemas::{ExtractKind, Rule, Value, check_delivery};
use proptest::prelude::*;

use crate::fixture::{Row, V, base, check, check_named, header, render, set};

fn rejection(rhf: Rhf, kind: ExtractKind, bytes: &[u8]) -> (Rule, Option<u64>) {
    let r = check(rhf, kind, bytes).expect_err("file should be rejected");
    (r.rule, r.line)
}

#[test]
fn file_names() {
    let kind = ExtractKind::Activity;
    let bytes = render(Rhf::Hv, &[Some(base(kind, Rhf::Hv))], &header(kind));
    for (name, rule) in [
        ("HV_activity_2025-3.csv", Rule::FileName),
        ("HV_coding_2025-03.csv", Rule::FileName), // another extract than the source takes
        ("HV_activity_2025-03.jsonl", Rule::FileName), // HV delivers CSV
        ("HSO_activity_2025-03.csv", Rule::FileRhf),
        ("activity.csv", Rule::FileName),
    ] {
        let r = check_named(name, Rhf::Hv, kind, &bytes).expect_err(name);
        assert_eq!(r.rule, rule, "{name}: {r}");
    }
    assert!(check_named("HV_activity_2025-03_v2.csv", Rhf::Hv, kind, &bytes).is_ok());
}

#[test]
fn undecodable_files() {
    let kind = ExtractKind::Activity;
    // Windows-1252's undefined bytes.
    for b in [0x81u8, 0x8D, 0x8F, 0x90, 0x9D] {
        let mut bytes = render(Rhf::Hv, &[Some(base(kind, Rhf::Hv))], &header(kind));
        let at = bytes.windows(4).position(|w| w == b"rus\"").unwrap();
        bytes.insert(at, b);
        assert_eq!(rejection(Rhf::Hv, kind, &bytes), (Rule::Undecodable, Some(2)));
    }
    // Invalid UTF-8 in a UTF-8 source.
    for rhf in [Rhf::Hso, Rhf::Hmn, Rhf::Hn] {
        let mut bytes = render(rhf, &[Some(base(kind, rhf)), Some(base(kind, rhf))], &header(kind));
        let at = bytes.windows(4).rposition(|w| w == b"rus\\" || w == b"rus\"").unwrap();
        bytes.insert(at, 0xFF);
        let line = if rhf == Rhf::Hmn { 2 } else { 3 };
        assert_eq!(rejection(rhf, kind, &bytes), (Rule::Undecodable, Some(line)), "{rhf}");
    }
    // Byte order marks: required where the dialect has one, refused where it has none.
    let with_bom = render(Rhf::Hn, &[Some(base(kind, Rhf::Hn))], &header(kind));
    assert_eq!(rejection(Rhf::Hn, kind, &with_bom[3..]), (Rule::Undecodable, Some(1)));
    let plain = render(Rhf::Hso, &[Some(base(kind, Rhf::Hso))], &header(kind));
    let bom_added = [b"\xEF\xBB\xBF".as_slice(), &plain].concat();
    assert_eq!(rejection(Rhf::Hso, kind, &bom_added), (Rule::Undecodable, Some(1)));
}

#[test]
fn a_file_rejected_whole_counts_no_rows_even_when_the_fault_is_late() {
    let kind = ExtractKind::Coding;
    let rows: Vec<Option<Row>> = (0..50)
        .map(|i| {
            let mut r = base(kind, Rhf::Hv);
            set(&mut r, "kontakt_id", V::Owned(format!("C-{i}")));
            Some(r)
        })
        .collect();
    let mut bytes = render(Rhf::Hv, &rows, &header(kind));
    let last = bytes.len() - 5;
    bytes.insert(last, 0x9D);
    let reference = crate::fixture::reference();
    let mut seen = 0;
    let r = check_delivery(
        "HV_coding_2025-03.csv",
        kind,
        Rhf::Hv,
        reference,
        || Ok(std::io::Cursor::new(bytes.clone())),
        |_| seen += 1,
    );
    assert_eq!(r.unwrap_err().rule, Rule::Undecodable);
    assert_eq!(seen, 0, "the first pass finds the fault before any row is handed on");
}

#[test]
fn missing_required_column_rejects_the_file_an_optional_one_does_not() {
    let kind = ExtractKind::Coding;
    for rhf in [Rhf::Hso, Rhf::Hv, Rhf::Hn] {
        let without_hf: Vec<&str> = header(kind).into_iter().filter(|c| *c != "hf").collect();
        let bytes = render(rhf, &[Some(base(kind, rhf))], &without_hf);
        assert_eq!(rejection(rhf, kind, &bytes), (Rule::MissingColumn, Some(1)));
        let without_bydel: Vec<&str> =
            header(kind).into_iter().filter(|c| !["bydel", "saerkoder"].contains(c)).collect();
        let bytes = render(rhf, &[Some(base(kind, rhf))], &without_bydel);
        let (s, v) = check(rhf, kind, &bytes).unwrap();
        assert!(v.is_empty() && s.rows_loaded == 1, "{v:?}");
    }
    // An empty CSV file has no header at all.
    assert_eq!(rejection(Rhf::Hso, kind, b""), (Rule::MissingColumn, Some(1)));
    // An empty JSON Lines file is an empty delivery.
    let (s, _) = check(Rhf::Hmn, kind, b"").unwrap();
    assert_eq!(s.rows_read, 0);
}

#[test]
fn unreadable_input() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let reference = crate::fixture::reference();
    let r = check_delivery("HSO_coding_2025-03.csv", ExtractKind::Coding, Rhf::Hso, reference, || Ok(Failing), |_| {});
    assert_eq!(r.unwrap_err().rule, Rule::Unreadable);
    let r = check_delivery(
        "HSO_coding_2025-03.csv",
        ExtractKind::Coding,
        Rhf::Hso,
        reference,
        || Err::<std::io::Empty, _>(std::io::Error::other("gone")),
        |_| {},
    );
    assert_eq!(r.unwrap_err().rule, Rule::Unreadable);
}

#[test]
fn headers_match_without_case_or_spaces_and_unknown_columns_are_reported() {
    let kind = ExtractKind::Evaluation;
    let mut names: Vec<String> = header(kind).iter().map(|c| format!(" {} ", c.to_uppercase())).collect();
    names.push("Kommentar".into());
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut text = names.join(",") + "\n";
    text += "HSO,OUS,K-1,S-1,P1,pasient,etter,2025-03-31,56.4,3,5,4,true,fritekst\n";
    let (s, v) = check(Rhf::Hso, kind, text.as_bytes()).unwrap();
    assert!(v.is_empty(), "{v:?}");
    assert_eq!(s.unknown_columns, vec!["kommentar".to_string()]);
    // By place for run records and logs: the 15th column of the header.
    assert_eq!(s.unknown_column_places, vec![format!("column {}", names.len())]);
    // JSON keys likewise, and unknown keys are kept out.
    let line = r#"{"RHF": "HMN", "hf": "STO", " kurs_id ": "K", "svar_id": "S", "rolle": "pasient", "maletidspunkt": "for", "dato": "2025-03-01", "pam_score": null, "extra": 1}"#;
    let (s, v) = check(Rhf::Hmn, kind, format!("{line}\n").as_bytes()).unwrap();
    assert!(v.is_empty(), "{v:?}");
    assert_eq!(s.unknown_columns, vec!["extra".to_string()]);
    assert_eq!(s.unknown_column_places, vec!["key 1".to_string()]);
}

/// An identity number used as a column name or JSON key is masked in the names the producer sees,
/// and the places run records keep say nothing of it.
#[test]
fn an_identity_number_as_a_column_name_is_masked() {
    let kind = ExtractKind::Evaluation;
    let mut names: Vec<String> = header(kind).iter().map(|c| c.to_string()).collect();
    let number =
        lms_schemas::identity::synthetic_number(chrono::NaiveDate::from_ymd_opt(1985, 5, 15).unwrap(), 123, false)
            .unwrap();
    names.push(format!("merknad {number}"));
    let mut text = names.join(",") + "\n";
    text += "HSO,OUS,K-1,S-1,P1,pasient,etter,2025-03-31,56.4,3,5,4,true,fritekst\n";
    let (s, _) = check(Rhf::Hso, kind, text.as_bytes()).unwrap();
    assert_eq!(s.unknown_columns, vec!["merknad <masked>".to_string()]);
    assert!(s.unknown_column_places.iter().all(|p| !p.contains(&number[6..])));
    let line = format!(
        r#"{{"RHF": "HMN", "hf": "STO", "kurs_id": "K", "svar_id": "S", "rolle": "pasient", "maletidspunkt": "for", "dato": "2025-03-01", "pam_score": null, "{number}": 1}}"#
    );
    let (s, _) = check(Rhf::Hmn, kind, format!("{line}\n").as_bytes()).unwrap();
    assert_eq!(s.unknown_columns, vec!["<masked>".to_string()]);
    assert_eq!(s.unknown_column_places, vec!["key 1".to_string()]);
}

#[test]
fn json_types_are_strict() {
    let kind = ExtractKind::Coding;
    let mut row = base(kind, Rhf::Hmn);
    set(&mut row, "kontakttype", V::Raw("13")); // a string where a number belongs
    let (_, v) = check(Rhf::Hmn, kind, &render(Rhf::Hmn, &[Some(row)], &header(kind))).unwrap();
    assert_eq!((v[0].column, v[0].rule), (Some("kontakttype"), Rule::Format));
    let line = r#"{"rhf":"HMN","hf":"STO","kontakt_id":"C","fodselsnummer":15858512309,"bostedskommune":"5001","kontaktdato":"2025-03-02","omsorgsniva":"dag","tjenesteomrade":"rus","hovedtilstand":"F10.2","kontakttype":13,"prosedyrekoder":["WPCK00"],"gruppe":false,"tolk":false}"#;
    let (_, v) = check(Rhf::Hmn, kind, format!("{line}\n").as_bytes()).unwrap();
    let got: Vec<_> = v.iter().map(|v| (v.column, v.rule, v.value.as_deref())).collect();
    assert_eq!(got, vec![(Some("fodselsnummer"), Rule::Format, Some("<masked>"))]);
}

#[test]
fn windows_1252_text_decodes_and_crlf_is_a_line_end() {
    let kind = ExtractKind::Activity;
    let bytes = render(Rhf::Hv, &[Some(base(kind, Rhf::Hv))], &header(kind));
    assert!(bytes.contains(&0xE5), "å is one byte in Windows-1252");
    assert!(bytes.ends_with(b"\r\n"));
    let reference = crate::fixture::reference();
    let mut rows = 0;
    check_delivery(
        "HV_activity_2025-03.csv",
        kind,
        Rhf::Hv,
        reference,
        || Ok(&bytes[..]),
        |row| {
            let values = &row.values;
            assert_eq!(values[3], Value::Text("Pårørendeskole, \"rus\"; del 1"));
            assert_eq!(values[17], Value::Decimal(1250));
            assert_eq!(values[21], Value::Bool(false)); // "nei"
            rows += 1;
        },
    )
    .unwrap();
    assert_eq!(rows, 1);
}

/// Quoted fields may hold the delimiter, quotes and line breaks; a record's line is where it starts.
fn lines_of(rhf: Rhf, titles: &[String]) -> Vec<(u64, String)> {
    let kind = ExtractKind::Activity;
    let rows: Vec<Option<Row>> = titles
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut r = base(kind, rhf);
            set(&mut r, "kurs_id", V::Owned(format!("K-{i}")));
            set(&mut r, "tittel", V::Owned(t.clone()));
            Some(r)
        })
        .collect();
    let bytes = render(rhf, &rows, &header(kind));
    let reference = crate::fixture::reference();
    let mut got = Vec::new();
    let name = crate::fixture::file_name(rhf, kind);
    check_delivery(
        &name,
        kind,
        rhf,
        reference,
        || Ok(&bytes[..]),
        |row| {
            assert!(row.violations.is_empty(), "{:?}", row.violations);
            let Value::Text(t) = &row.values[3] else { panic!("title") };
            got.push((row.line, t.to_string()));
        },
    )
    .unwrap();
    got
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn csv_fields_round_trip_with_physical_line_numbers(
        titles in prop::collection::vec("[a-zæøå ,;\"\n]{1,30}", 1..8),
        rhf in prop::sample::select(vec![Rhf::Hso, Rhf::Hv, Rhf::Hn]),
    ) {
        // A title is text; one of only spaces or a leading/trailing line break is still text.
        let got = lines_of(rhf, &titles);
        let mut line = 2u64;
        for (t, (l, back)) in titles.iter().zip(&got) {
            prop_assert_eq!(back, t);
            prop_assert_eq!(*l, line);
            line += 1 + t.matches('\n').count() as u64;
        }
    }

    #[test]
    fn decimals_parse_what_they_print(units in 0i64..1_000_000, scale in 0u32..3) {
        let unit = 10i64.pow(scale);
        let text = if scale == 0 { units.to_string() } else { format!("{}.{:0w$}", units / unit, units % unit, w = scale as usize) };
        let expected = units * 10i64.pow(2 - scale);
        prop_assert_eq!(lms_schemas::check::parse_decimal(&text, '.', 2), Some(expected));
        prop_assert_eq!(lms_schemas::check::parse_decimal(&text.replace('.', ","), ',', 2), Some(expected));
    }
}

/// JSON Lines: blank lines (spaces, CRLF, a no-break space) carry no record and still count as
/// lines; escaped strings and keys read as the characters they stand for; values the contract does
/// not take are shown in quarantine as the JSON they were.
#[test]
fn json_lines_blank_lines_escapes_and_shown_values() {
    let kind = ExtractKind::Evaluation;
    let good = r#"{"rhf": "HMN", "hf": "STO", "kurs_id": "K\u00e5-1", "svar_id": "S1", "rolle": "pasient", "maletidspunkt": "for", "dato": "2025-03-01"}"#;
    let escaped_key = r#"{"rhf": "HMN", "h\u0066": "STO", "kurs_id": "K", "svar_id": "S2", "rolle": "pasient", "maletidspunkt": "for", "dato": "2025-03-01"}"#;
    let odd = r#"{"rhf": "HMN", "hf": "STO", "kurs_id": {"a": [1, "x"]}, "svar_id": "S3", "rolle": ["pasient", 2], "maletidspunkt": "for", "dato": "2025-03-01"}"#;
    let text = format!("{good}\n\n   \r\n\u{a0}\n{escaped_key}\r\n{odd}\n");
    let (s, v) = check(Rhf::Hmn, kind, text.as_bytes()).unwrap();
    assert_eq!((s.rows_read, s.rows_loaded, s.rows_rejected), (3, 2, 1));
    let got: Vec<_> = v.iter().map(|v| (v.line, v.column, v.rule, v.value.as_deref())).collect();
    assert_eq!(
        got,
        vec![
            (6, Some("kurs_id"), Rule::Format, Some(r#"{"a":[1,"x"]}"#)),
            (6, Some("rolle"), Rule::Format, Some(r#"["pasient",2]"#)),
        ]
    );
    let mut kurs = Vec::new();
    check_delivery(
        "HMN_evaluation_2025-03.jsonl",
        kind,
        Rhf::Hmn,
        crate::fixture::reference(),
        || Ok(text.as_bytes()),
        |row| {
            if let Value::Text(k) = &row.values[2] {
                kurs.push(k.to_string());
            }
        },
    )
    .unwrap();
    assert_eq!(kurs, vec!["Kå-1", "K"]);
}

/// A record over 1 MiB is rejected by `record_too_long` at its line and read no further (the
/// records after it keep their lines), and a NUL byte in a value by `nul_byte`: in every dialect,
/// the rest of the file loads.
#[test]
fn huge_records_and_nul_bytes_are_rejected_rows() {
    let kind = ExtractKind::Activity;
    let huge = format!("{}\n{}", "a".repeat(1 << 20), "b".repeat(1 << 20));
    for rhf in [Rhf::Hso, Rhf::Hv, Rhf::Hmn, Rhf::Hn] {
        let json = rhf == Rhf::Hmn;
        // JSON Lines escape the line break: the huge row is one line there.
        let breaks = if json { 0 } else { 1 };
        let rows: Vec<Option<Row>> = (0..5)
            .map(|i| {
                let mut r = base(kind, rhf);
                set(&mut r, "kurs_id", V::Owned(if i == 3 { "K-\0-3".into() } else { format!("K-{i}") }));
                if i == 1 {
                    set(&mut r, "tittel", V::Owned(huge.clone()));
                }
                Some(r)
            })
            .collect();
        let bytes = render(rhf, &rows, &header(kind));
        let (s, v) = check(rhf, kind, &bytes).unwrap();
        let first = if json { 1 } else { 2 };
        let got: Vec<_> = v.iter().map(|v| (v.line, v.column, v.rule)).collect();
        assert_eq!(
            got,
            vec![(first + 1, None, Rule::RecordTooLong), (first + 3 + breaks, Some("kurs_id"), Rule::NulByte),],
            "{rhf:?}"
        );
        assert_eq!((s.rows_read, s.rows_loaded, s.rows_rejected), (5, 3, 2), "{rhf:?}");
    }
}
