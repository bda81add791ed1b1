//! A test per rule: a clean row, then one row that breaks exactly that rule, in every dialect; the
//! check must accept the first and report exactly the rule (and column) on the second's line.

use lms_schemas::dialect::Rhf;
use lms_schemas::{ExtractKind, Rule};

use crate::fixture::{FNR, Row, V, base, check, check_named, header, render, set};

/// Checks [clean row, faulty row] and returns the violations as (line, column, rule).
fn faults(rhf: Rhf, kind: ExtractKind, change: impl Fn(&mut Row)) -> Vec<(u64, Option<&'static str>, Rule)> {
    let mut bad = base(kind, rhf);
    set(&mut bad, kind.id_column(), V::S("ID-2"));
    change(&mut bad);
    let bytes = render(rhf, &[Some(base(kind, rhf)), Some(bad)], &header(kind));
    let (summary, violations) = check(rhf, kind, &bytes).expect("file accepted");
    assert_eq!(summary.rows_read, 2);
    violations.into_iter().map(|v| (v.line, v.column, v.rule)).collect()
}

/// The faulty row is the second record: line 3 under a CSV header, line 2 in JSON Lines.
fn line(rhf: Rhf) -> u64 {
    if rhf == Rhf::Hmn { 2 } else { 3 }
}

fn assert_rule(kind: ExtractKind, column: &'static str, rule: Rule, change: impl Fn(&mut Row, Rhf)) {
    for rhf in Rhf::ALL {
        let got = faults(rhf, kind, |r| change(r, rhf));
        assert_eq!(got, vec![(line(rhf), Some(column), rule)], "{rhf} {kind}: {column} should break {rule}");
    }
}

#[test]
fn clean_rows_pass_in_every_dialect() {
    for rhf in Rhf::ALL {
        for kind in ExtractKind::ALL {
            let bytes = render(rhf, &[Some(base(kind, rhf))], &header(kind));
            let (summary, violations) = check(rhf, kind, &bytes).unwrap();
            assert!(violations.is_empty(), "{rhf} {kind}: {violations:?}");
            assert_eq!((summary.rows_read, summary.rows_loaded), (1, 1));
        }
    }
}

#[test]
fn malformed_record() {
    for rhf in Rhf::ALL {
        let kind = ExtractKind::Activity;
        let bytes = render(rhf, &[Some(base(kind, rhf)), None], &header(kind));
        let (summary, v) = check(rhf, kind, &bytes).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].line, v[0].column, v[0].rule), (line(rhf), None, Rule::MalformedRecord));
        assert_eq!((summary.rows_loaded, summary.rows_rejected), (1, 1));
    }
}

#[test]
fn required() {
    assert_rule(ExtractKind::Activity, "tittel", Rule::Required, |r, _| set(r, "tittel", V::Null));
    assert_rule(ExtractKind::Coding, "fodselsnummer", Rule::Required, |r, _| set(r, "fodselsnummer", V::Null));
}

#[test]
fn optional_values_may_be_empty() {
    for rhf in Rhf::ALL {
        let got = faults(rhf, ExtractKind::Evaluation, |r| {
            for c in ["deltaker", "pam_score", "pam_niva", "tilfredshet", "nytte", "anbefale"] {
                set(r, c, V::Null);
            }
        });
        assert!(got.is_empty(), "{rhf}: {got:?}");
    }
}

#[test]
fn format() {
    assert_rule(ExtractKind::Activity, "samlinger", Rule::Format, |r, _| set(r, "samlinger", V::Raw("fem")));
    assert_rule(ExtractKind::Activity, "tolk_tilbudt", Rule::Format, |r, _| set(r, "tolk_tilbudt", V::Raw("kanskje")));
    // A date in another region's format.
    assert_rule(ExtractKind::Activity, "startdato", Rule::Format, |r, rhf| {
        let other = if matches!(rhf, Rhf::Hv | Rhf::Hn) { "2025-03-03" } else { "03.03.2025" };
        set(r, "startdato", V::Raw(other))
    });
    // A decimal with another region's mark (JSON: a string where a number belongs).
    assert_rule(ExtractKind::Activity, "timer", Rule::Format, |r, rhf| {
        let other = if matches!(rhf, Rhf::Hv | Rhf::Hn) { "7.5" } else { "7,5" };
        set(r, "timer", V::Raw(other))
    });
    assert_rule(ExtractKind::Activity, "timer", Rule::Format, |r, rhf| {
        let three_decimals = if matches!(rhf, Rhf::Hv | Rhf::Hn) { "7,125" } else { "7.125" };
        set(r, "timer", V::Raw(three_decimals))
    });
    assert_rule(ExtractKind::Coding, "prosedyrekoder", Rule::Format, |r, _| {
        set(r, "prosedyrekoder", V::S("WPCK00|ZW"))
    });
    assert_rule(ExtractKind::Coding, "bostedskommune", Rule::Format, |r, _| set(r, "bostedskommune", V::S("301")));
}

#[test]
fn code() {
    assert_rule(ExtractKind::Activity, "format", Rule::Code, |r, _| set(r, "format", V::S("papir")));
    assert_rule(ExtractKind::Activity, "sprak", Rule::Code, |r, _| set(r, "sprak", V::S("NB")));
    assert_rule(ExtractKind::Coding, "omsorgsniva", Rule::Code, |r, _| set(r, "omsorgsniva", V::S("inneliggende")));
    assert_rule(ExtractKind::Evaluation, "maletidspunkt", Rule::Code, |r, _| set(r, "maletidspunkt", V::S("under")));
    assert_rule(ExtractKind::Activity, "rhf", Rule::Code, |r, _| set(r, "rhf", V::S("HSØ")));
}

#[test]
fn length() {
    assert_rule(ExtractKind::Activity, "kurs_id", Rule::Length, |r, _| set(r, "kurs_id", V::Owned("k".repeat(65))));
    assert_rule(ExtractKind::Activity, "tittel", Rule::Length, |r, _| set(r, "tittel", V::Owned("ø".repeat(201))));
    // 200 characters (not bytes) are fine.
    for rhf in Rhf::ALL {
        assert!(faults(rhf, ExtractKind::Activity, |r| set(r, "tittel", V::Owned("ø".repeat(200)))).is_empty());
    }
}

#[test]
fn range() {
    assert_rule(ExtractKind::Activity, "deltakere_pasient", Rule::Range, |r, _| set(r, "deltakere_pasient", V::I(-3)));
    assert_rule(ExtractKind::Activity, "samlinger", Rule::Range, |r, _| set(r, "samlinger", V::I(101)));
    assert_rule(ExtractKind::Activity, "timer", Rule::Range, |r, _| set(r, "timer", V::D("0")));
    assert_rule(ExtractKind::Activity, "timer", Rule::Range, |r, _| set(r, "timer", V::D("500.01")));
    assert_rule(ExtractKind::Coding, "kontakttype", Rule::Range, |r, _| set(r, "kontakttype", V::I(100)));
    assert_rule(ExtractKind::Evaluation, "pam_score", Rule::Range, |r, _| {
        set(r, "pam_score", V::D("100.5"));
        set(r, "pam_niva", V::Null);
    });
    assert_rule(ExtractKind::Evaluation, "tilfredshet", Rule::Range, |r, _| set(r, "tilfredshet", V::I(6)));
    for rhf in Rhf::ALL {
        assert!(faults(rhf, ExtractKind::Activity, |r| set(r, "timer", V::D("500"))).is_empty());
    }
}

#[test]
fn period() {
    assert_rule(ExtractKind::Coding, "kontaktdato", Rule::Period, |r, _| set(r, "kontaktdato", V::Date(2025, 4, 1)));
    assert_rule(ExtractKind::Evaluation, "dato", Rule::Period, |r, _| set(r, "dato", V::Date(2025, 2, 28)));
    assert_rule(ExtractKind::Activity, "startdato", Rule::Period, |r, _| set(r, "startdato", V::Date(2024, 3, 3)));
}

#[test]
fn date_order() {
    assert_rule(ExtractKind::Activity, "sluttdato", Rule::DateOrder, |r, _| set(r, "sluttdato", V::Date(2025, 3, 2)));
    // 3 March 2025 + 366 days = 4 March 2026.
    assert_rule(ExtractKind::Activity, "sluttdato", Rule::DateOrder, |r, _| set(r, "sluttdato", V::Date(2026, 3, 5)));
    for rhf in Rhf::ALL {
        assert!(faults(rhf, ExtractKind::Activity, |r| set(r, "sluttdato", V::Date(2026, 3, 4))).is_empty());
        assert!(faults(rhf, ExtractKind::Activity, |r| set(r, "sluttdato", V::Date(2025, 3, 3))).is_empty());
    }
}

#[test]
fn rhf_mismatch() {
    assert_rule(ExtractKind::Coding, "rhf", Rule::RhfMismatch, |r, rhf| {
        set(r, "rhf", V::S(if rhf == Rhf::Hn { "HV" } else { "HN" }))
    });
}

#[test]
fn unknown_hf() {
    // A real health trust, but of another region.
    assert_rule(ExtractKind::Activity, "hf", Rule::UnknownHf, |r, rhf| {
        set(r, "hf", V::S(if rhf == Rhf::Hn { "OUS" } else { "UNN" }))
    });
    assert_rule(ExtractKind::Evaluation, "hf", Rule::UnknownHf, |r, _| set(r, "hf", V::S("ous")));
}

#[test]
fn unknown_kommune() {
    assert_rule(ExtractKind::Activity, "samarbeid_kommune", Rule::UnknownKommune, |r, _| {
        set(r, "samarbeid_kommune", V::S("9999"))
    });
    assert_rule(ExtractKind::Coding, "bostedskommune", Rule::UnknownKommune, |r, _| {
        set(r, "bostedskommune", V::S("0000"));
        set(r, "bydel", V::Null);
    });
    for rhf in Rhf::ALL {
        let unknown_home = faults(rhf, ExtractKind::Coding, |r| {
            set(r, "bostedskommune", V::S("9999"));
            set(r, "bydel", V::Null);
        });
        assert!(unknown_home.is_empty(), "9999 is an allowed home: {unknown_home:?}");
    }
}

/// A code is checked against the day of its row: a code of 2020–2023 after 2023 and a code of 2024
/// before it break `kommune_not_valid_on_date`, with the code's validity in the message; each on a
/// day of its validity passes.
#[test]
fn kommune_not_valid_on_date() {
    // The fixture's rows are of March 2025: Bærum's code of 2020–2023 is too old.
    assert_rule(ExtractKind::Coding, "bostedskommune", Rule::KommuneNotValidOnDate, |r, _| {
        set(r, "bostedskommune", V::S("3024"));
        set(r, "bydel", V::Null);
    });
    assert_rule(ExtractKind::Activity, "samarbeid_kommune", Rule::KommuneNotValidOnDate, |r, _| {
        set(r, "samarbeid_kommune", V::S("1507"))
    });
    for rhf in Rhf::ALL {
        let mut bad = base(ExtractKind::Coding, rhf);
        set(&mut bad, "bostedskommune", V::S("3024"));
        set(&mut bad, "bydel", V::Null);
        let bytes = render(rhf, &[Some(bad)], &header(ExtractKind::Coding));
        let (_, v) = check(rhf, ExtractKind::Coding, &bytes).unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].value.as_deref(), Some("3024"));
        assert_eq!(
            v[0].expected,
            "a kommunenummer valid on kontaktdato 2025-03-14: 3024 (Bærum) is valid from 2020-01-01 to 2023-12-31 \
             (on 2024 borders 3201)"
        );
    }
    // A delivery of March 2023: the old codes are right, the new ones not yet.
    for rhf in Rhf::ALL {
        let ext = if rhf == Rhf::Hmn { "jsonl" } else { "csv" };
        let name = format!("{rhf}_coding_2023-03.{ext}");
        let row = |code: &'static str| {
            let mut r = base(ExtractKind::Coding, rhf);
            set(&mut r, "kontaktdato", V::Date(2023, 3, 14));
            set(&mut r, "bostedskommune", V::S(code));
            set(&mut r, "bydel", V::Null);
            r
        };
        let mut rows = vec![Some(row("3024")), Some(row("1507")), Some(row("5401")), Some(row("4601"))];
        rows.push(Some(row("3201")));
        for (i, r) in rows.iter_mut().enumerate() {
            if let Some(r) = r {
                set(r, "kontakt_id", V::Owned(format!("C-{i}")));
            }
        }
        let bytes = render(rhf, &rows, &header(ExtractKind::Coding));
        let (summary, v) = check_named(&name, rhf, ExtractKind::Coding, &bytes).unwrap();
        let got: Vec<_> = v.iter().map(|v| (v.line, v.column, v.rule)).collect();
        let last = if rhf == Rhf::Hmn { 5 } else { 6 };
        assert_eq!(got, [(last, Some("bostedskommune"), Rule::KommuneNotValidOnDate)], "{rhf}: {v:?}");
        assert!(v[0].expected.contains("3201 (Bærum) is valid from 2024-01-01"), "{}", v[0].expected);
        assert_eq!((summary.rows_loaded, summary.rows_rejected), (4, 1));
    }
}

#[test]
fn bydel() {
    assert_rule(ExtractKind::Coding, "bydel", Rule::Bydel, |r, _| set(r, "bydel", V::S("030199")));
    assert_rule(ExtractKind::Coding, "bydel", Rule::Bydel, |r, _| set(r, "bostedskommune", V::S("4601")));
}

#[test]
fn fodselsnummer() {
    assert_rule(ExtractKind::Coding, "fodselsnummer", Rule::Fodselsnummer, |r, _| {
        set(r, "fodselsnummer", V::S("15858512308"))
    });
    // The century rule: individual 600 has no century with year 45.
    assert_rule(ExtractKind::Coding, "fodselsnummer", Rule::Fodselsnummer, |r, _| {
        set(r, "fodselsnummer", V::S("01014560013"))
    });
    // The D-number form of the same person is valid.
    let birth = chrono::NaiveDate::from_ymd_opt(1985, 5, 15).unwrap();
    let d_form = (0..500).find_map(|i| lms_schemas::identity::synthetic_number(birth, i, true)).unwrap();
    assert_eq!(&d_form[..4], "5585");
    let d_form: &'static str = Box::leak(d_form.into_boxed_str());
    for rhf in Rhf::ALL {
        assert!(faults(rhf, ExtractKind::Coding, |r| set(r, "fodselsnummer", V::S(d_form))).is_empty());
    }
    // Never echoed back.
    for rhf in Rhf::ALL {
        let mut bad = base(ExtractKind::Coding, rhf);
        set(&mut bad, "fodselsnummer", V::S("15858512308"));
        let bytes = render(rhf, &[Some(bad)], &header(ExtractKind::Coding));
        let (_, v) = check(rhf, ExtractKind::Coding, &bytes).unwrap();
        assert_eq!(v[0].value.as_deref(), Some("<masked>"));
        assert!(!format!("{v:?}{}", v[0]).contains("1585851230"));
    }
    let _ = FNR;
}

/// An identity number in any field but `fodselsnummer`, in every extract and dialect and in each
/// form people type it (11 digits with text around, 6 + 5 with a space or hyphen, a D-number):
/// the row is rejected with rule `identity_number_in_text` on that field and line, and the number
/// is in no value or message the check gives back.
#[test]
fn identity_number_in_text() {
    let birth = chrono::NaiveDate::from_ymd_opt(1985, 5, 15).unwrap();
    let plain = lms_schemas::identity::synthetic_number(birth, 123, false).unwrap();
    let d_form = (0..500).find_map(|i| lms_schemas::identity::synthetic_number(birth, i, true)).unwrap();
    let forms = [
        format!("Kurs for {plain}"),
        format!("{} {}", &plain[..6], &plain[6..]),
        format!("{}-{}", &d_form[..6], &d_form[6..]),
        d_form.clone(),
    ];
    for kind in ExtractKind::ALL {
        for column in header(kind).into_iter().filter(|c| *c != "fodselsnummer") {
            for (f, form) in forms.iter().enumerate() {
                for rhf in Rhf::ALL {
                    let mut bad = base(kind, rhf);
                    if column != kind.id_column() {
                        set(&mut bad, kind.id_column(), V::S("ID-2"));
                    }
                    set(&mut bad, column, V::Owned(form.clone()));
                    let bytes = render(rhf, &[Some(base(kind, rhf)), Some(bad)], &header(kind));
                    let (summary, v) = check(rhf, kind, &bytes).expect("file accepted");
                    assert_eq!((summary.rows_loaded, summary.rows_rejected), (1, 1), "{rhf} {kind} {column} {f}");
                    assert!(
                        v.iter().any(|v| v.line == line(rhf)
                            && v.column == Some(column)
                            && v.rule == Rule::IdentityNumberInText
                            && v.value.as_deref().is_some_and(|x| x.contains("<masked>"))),
                        "{rhf} {kind} {column} {f}: {v:?}"
                    );
                    let said = format!("{v:?}{}", v.iter().map(|v| v.to_string()).collect::<String>());
                    assert!(!said.contains(&plain[6..]) && !said.contains(&d_form[6..]), "{said}");
                }
            }
        }
    }
}

#[test]
fn icd10() {
    assert_rule(ExtractKind::Coding, "hovedtilstand", Rule::Icd10, |r, _| set(r, "hovedtilstand", V::S("E1")));
    assert_rule(ExtractKind::Coding, "hovedtilstand", Rule::Icd10, |r, _| set(r, "hovedtilstand", V::S("J20.9")));
    for rhf in Rhf::ALL {
        assert!(faults(rhf, ExtractKind::Coding, |r| set(r, "hovedtilstand", V::S("F10.2"))).is_empty());
    }
}

#[test]
fn completed() {
    assert_rule(ExtractKind::Activity, "fullfort", Rule::Completed, |r, _| set(r, "fullfort", V::I(13)));
}

#[test]
fn cancelled_participants() {
    assert_rule(ExtractKind::Activity, "avlyst", Rule::CancelledParticipants, |r, _| set(r, "avlyst", V::B(true)));
    for rhf in Rhf::ALL {
        let cancelled = faults(rhf, ExtractKind::Activity, |r| {
            set(r, "avlyst", V::B(true));
            for c in ["deltakere_pasient", "deltakere_parorende", "fullfort"] {
                set(r, c, V::I(0));
            }
        });
        assert!(cancelled.is_empty());
    }
}

#[test]
fn pam_level() {
    assert_rule(ExtractKind::Evaluation, "pam_niva", Rule::PamLevel, |r, _| set(r, "pam_niva", V::I(2)));
    // 55.1 is level 2, 55.11 is level 3.
    for rhf in Rhf::ALL {
        assert!(
            faults(rhf, ExtractKind::Evaluation, |r| {
                set(r, "pam_score", V::D("55.1"));
                set(r, "pam_niva", V::I(2));
            })
            .is_empty()
        );
        assert!(
            faults(rhf, ExtractKind::Evaluation, |r| {
                set(r, "pam_score", V::D("55.11"));
                set(r, "pam_niva", V::I(3));
            })
            .is_empty()
        );
    }
}

#[test]
fn duplicate_id_rejects_every_row_that_carries_it() {
    for rhf in Rhf::ALL {
        let kind = ExtractKind::Coding;
        let first = base(kind, rhf);
        let mut other = base(kind, rhf);
        set(&mut other, "kontakt_id", V::S("C-2"));
        let mut again = base(kind, rhf);
        set(&mut again, "kontaktdato", V::Date(2025, 3, 20));
        let bytes = render(rhf, &[Some(first), Some(other), Some(again)], &header(kind));
        let (summary, v) = check(rhf, kind, &bytes).unwrap();
        let header_lines = if rhf == Rhf::Hmn { 0 } else { 1 };
        let got: Vec<_> = v.iter().map(|v| (v.line, v.rule)).collect();
        assert_eq!(got, vec![(1 + header_lines, Rule::DuplicateId), (3 + header_lines, Rule::DuplicateId)], "{rhf}");
        assert_eq!((summary.rows_loaded, summary.rows_rejected), (1, 2));
    }
}

#[test]
fn the_same_id_at_two_health_trusts_is_fine() {
    let kind = ExtractKind::Activity;
    let rhf = Rhf::Hso;
    let mut at_ahus = base(kind, rhf);
    set(&mut at_ahus, "hf", V::S("AHUS"));
    let bytes = render(rhf, &[Some(base(kind, rhf)), Some(at_ahus)], &header(kind));
    let (summary, v) = check(rhf, kind, &bytes).unwrap();
    assert!(v.is_empty(), "{v:?}");
    assert_eq!(summary.rows_loaded, 2);
}

#[test]
fn a_row_reports_every_rule_it_breaks() {
    let got = faults(Rhf::Hso, ExtractKind::Activity, |r| {
        set(r, "format", V::S("papir"));
        set(r, "samlinger", V::I(0));
    });
    assert_eq!(got, vec![(3, Some("format"), Rule::Code), (3, Some("samlinger"), Rule::Range)]);
}
