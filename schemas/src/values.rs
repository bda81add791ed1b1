//! The value parsers of the contract's types: whole numbers, decimals with a region's mark, ICD-10
//! codes.

pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a decimal with the given mark into units of 10^-scale; more decimals than `scale` fail.
pub fn parse_decimal(s: &str, mark: char, scale: u32) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (int, frac) = match body.split_once(mark) {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    let ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 12 || !ok(int) || !ok(frac) || frac.len() > scale as usize || body.ends_with(mark)
    {
        return None;
    }
    let mut n: i64 = int.parse().ok()?;
    for i in 0..scale as usize {
        n = n * 10 + frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
    }
    Some(if neg { -n } else { n })
}

/// Letter, two digits, optionally `.` and one or two more letters or digits.
pub(crate) fn is_icd10(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 3 || !b[0].is_ascii_uppercase() || !b[1].is_ascii_digit() || !b[2].is_ascii_digit() {
        return false;
    }
    let rest = &b[3..];
    let rest = rest.strip_prefix(b".").unwrap_or(rest);
    if b.len() > 3 && rest.is_empty() {
        return false; // a trailing dot
    }
    rest.len() <= 2 && rest.iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_by_mark_and_scale() {
        assert_eq!(parse_decimal("12.5", '.', 2), Some(1250));
        assert_eq!(parse_decimal("12,5", ',', 2), Some(1250));
        assert_eq!(parse_decimal("12", ',', 2), Some(1200));
        assert_eq!(parse_decimal("0,05", ',', 2), Some(5));
        assert_eq!(parse_decimal("-3.25", '.', 2), Some(-325));
        // Another region's mark, too many decimals, stray characters.
        assert_eq!(parse_decimal("7,5", '.', 2), None);
        assert_eq!(parse_decimal("7.5", ',', 2), None);
        assert_eq!(parse_decimal("7.125", '.', 2), None);
        assert_eq!(parse_decimal("7.", '.', 2), None);
        assert_eq!(parse_decimal(".5", '.', 2), None);
        assert_eq!(parse_decimal("1e3", '.', 2), None);
        assert_eq!(parse_decimal(" 7", '.', 2), None);
    }

    #[test]
    fn icd10_shapes() {
        for ok in ["E11", "E11.9", "F32.1", "E119", "C50.91", "M05.X"] {
            assert!(is_icd10(ok), "{ok}");
        }
        for bad in ["E1", "e11", "E11.", "E11.123", "11E", "E1A", ""] {
            assert!(!is_icd10(bad), "{bad}");
        }
    }

    #[test]
    fn ints_are_plain_digits() {
        assert_eq!(parse_int("42"), Some(42));
        assert_eq!(parse_int("-3"), Some(-3));
        for bad in ["+3", "3.0", "", "-", " 3", "1_000"] {
            assert_eq!(parse_int(bad), None, "{bad}");
        }
    }
}
