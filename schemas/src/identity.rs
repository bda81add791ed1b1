//! Norwegian identity numbers (extracts.md, "Identity numbers") and their keyed pseudonyms.
//!
//! Invariant: no function here returns, logs or formats the number itself; `Debug` of every type
//! that holds one is masked. A raw number only leaves this module as a pseudonym.

use std::fmt;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const W1: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

/// Why a string is not a valid identity number. Carries no digits of the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("not 11 digits")]
    Shape,
    #[error("check digit does not match")]
    CheckDigit,
    #[error("day or month is not a date")]
    Date,
    #[error("individual number does not fit the year (no century)")]
    Century,
}

/// What kind of number it is. D and H are offsets on the day and month; synthetic test numbers add
/// 80 to the month, and a synthetic number may also be in D-number form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentityKind {
    pub d_number: bool,
    pub h_number: bool,
    pub synthetic: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// `M` or `F`, as in the reference population.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
        }
    }
}

/// What the warehouse keeps of an identity number: birth date and sex (and the kind, for quality checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub kind: IdentityKind,
}

impl Identity {
    /// Whole years of age on `date`.
    pub fn age_on(&self, date: NaiveDate) -> i32 {
        age_on(self.birth_date, date)
    }
}

/// Whole years between a birth date and a date (a person born 29 February turns a year older on 1 March).
pub fn age_on(birth: NaiveDate, date: NaiveDate) -> i32 {
    let mut age = date.year() - birth.year();
    if (date.month(), date.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

fn digits11(s: &str) -> Result<[u32; 11], IdentityError> {
    let b = s.as_bytes();
    if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) {
        return Err(IdentityError::Shape);
    }
    let mut d = [0u32; 11];
    for (o, c) in d.iter_mut().zip(b) {
        *o = u32::from(c - b'0');
    }
    Ok(d)
}

/// The two check digits for the first nine digits, or `None` where a check digit would be 10
/// (no valid number has those nine digits).
pub fn check_digits(first9: &[u32; 9]) -> Option<(u32, u32)> {
    let k = |sum: u32| match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        k => Some(k),
    };
    let k1 = k(first9.iter().zip(W1).map(|(d, w)| d * w).sum())?;
    let k2 = k(first9.iter().chain(std::iter::once(&k1)).zip(W2).map(|(d, w)| d * w).sum())?;
    Some((k1, k2))
}

/// The century of a two-digit year by the individual number (extracts.md), or `None`.
pub fn century(individual: u32, yy: u32) -> Option<i32> {
    match (individual, yy) {
        (0..=499, _) => Some(1900),
        (500..=749, 54..=99) => Some(1800),
        (500..=999, 0..=39) => Some(2000),
        (900..=999, 40..=99) => Some(1900),
        _ => None,
    }
}

/// Where `text` holds a valid identity number in any form (ordinary, D, H, synthetic), as byte
/// ranges in order: written as 11 digits, or as 6 and 5 digits with one space, hyphen or dot
/// between (as people type them), with no digit right before or after. Digits that fail the check
/// digits or give no date are not one.
pub fn find_identity_numbers(text: &str) -> Vec<std::ops::Range<usize>> {
    let b = text.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !digit(i) {
            i += 1;
            continue;
        }
        let end = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        match end - i {
            11 if parse(&text[i..end]).is_ok() => found.push(i..end),
            6 if matches!(b.get(end), Some(b' ' | b'-' | b'.')) && (end + 1..end + 6).all(digit) && !digit(end + 6) => {
                let joined = format!("{}{}", &text[i..end], &text[end + 1..end + 6]);
                if parse(&joined).is_ok() {
                    found.push(i..end + 6);
                    i = end + 6;
                    continue;
                }
            }
            _ => {}
        }
        i = end;
    }
    found
}

/// Whether `text` holds an identity number ([`find_identity_numbers`]); quick where it holds fewer
/// than 11 digits, as nearly every field does.
pub fn has_identity_number(text: &str) -> bool {
    text.len() >= 11
        && text.bytes().filter(u8::is_ascii_digit).nth(10).is_some()
        && !find_identity_numbers(text).is_empty()
}

/// `text` with every identity number [`find_identity_numbers`] finds replaced by `<masked>`.
pub fn mask_identity_numbers(text: &str) -> std::borrow::Cow<'_, str> {
    if !has_identity_number(text) {
        return std::borrow::Cow::Borrowed(text);
    }
    let found = find_identity_numbers(text);
    if found.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in found {
        out.push_str(&text[at..r.start]);
        out.push_str(MASK);
        at = r.end;
    }
    out.push_str(&text[at..]);
    std::borrow::Cow::Owned(out)
}

/// What an identity number is written as wherever a value is kept or shown.
pub const MASK: &str = "<masked>";

/// Validates an identity number and derives birth date and sex.
pub fn parse(s: &str) -> Result<Identity, IdentityError> {
    let d = digits11(s)?;
    let first9: [u32; 9] = d[..9].try_into().expect("nine digits");
    match check_digits(&first9) {
        Some((k1, k2)) if k1 == d[9] && k2 == d[10] => {}
        _ => return Err(IdentityError::CheckDigit),
    }
    let mut day = d[0] * 10 + d[1];
    let mut month = d[2] * 10 + d[3];
    let yy = d[4] * 10 + d[5];
    let individual = d[6] * 100 + d[7] * 10 + d[8];
    let mut kind = IdentityKind { d_number: false, h_number: false, synthetic: false };
    if d[0] >= 4 {
        kind.d_number = true;
        day -= 40;
    }
    if d[2] >= 8 {
        kind.synthetic = true;
        month -= 80;
    } else if d[2] >= 4 {
        kind.h_number = true;
        month -= 40;
    }
    let year = century(individual, yy).ok_or(IdentityError::Century)? + yy as i32;
    let birth_date = NaiveDate::from_ymd_opt(year, month, day).ok_or(IdentityError::Date)?;
    let sex = if d[8] % 2 == 1 { Sex::Male } else { Sex::Female };
    Ok(Identity { birth_date, sex, kind })
}

/// Builds a synthetic test number (month + 80, as the tax administration issues for test data) for a
/// birth date and an individual number, optionally in D-number form. `None` where the individual
/// number does not fit the birth year or the nine digits have no valid check digits; callers try
/// another individual number.
pub fn synthetic_number(birth: NaiveDate, individual: u32, d_number: bool) -> Option<String> {
    let yy = (birth.year().rem_euclid(100)) as u32;
    if individual > 999 || century(individual, yy)? + yy as i32 != birth.year() {
        return None;
    }
    let day = birth.day() + if d_number { 40 } else { 0 };
    let month = birth.month() + 80;
    let first9 = [
        day / 10,
        day % 10,
        month / 10,
        month % 10,
        yy / 10,
        yy % 10,
        individual / 100,
        individual / 10 % 10,
        individual % 10,
    ];
    let (k1, k2) = check_digits(&first9)?;
    let mut s = String::with_capacity(11);
    for d in first9.iter().chain([&k1, &k2]) {
        s.push(char::from_digit(*d, 10).expect("digit"));
    }
    Some(s)
}

/// A secret key for pseudonyms. Its `Debug` does not show it.
///
/// After a rotation (`lms etl rekey`) it is a chain: the first key's pseudonym of the identity
/// number, then each later key's pseudonym of the pseudonym before. The lake's pseudonyms were made
/// again by the later key alone, so a person keeps one pseudonym across a rotation, and the stored
/// pseudonyms cannot be recomputed from an identity number without every key of the chain.
#[derive(Clone)]
pub struct PseudonymKey {
    bytes: Vec<u8>,
    keyed: KeyedHmac,
    /// The keys rotated in after this one, oldest first.
    later: Vec<(Vec<u8>, KeyedHmac)>,
}

/// HMAC-SHA-256 (RFC 2104) keyed once: the SHA-256 states after the key's inner and outer pad
/// blocks. A message of up to 55 bytes (an identity number is 11) then costs two compressions,
/// without the generic implementation's buffering and state copies.
#[derive(Clone)]
struct KeyedHmac {
    inner: [u32; 8],
    outer: [u32; 8],
}

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

impl KeyedHmac {
    /// The longest message [`KeyedHmac::mac`] takes: one block with its padding.
    const MAX_MESSAGE: usize = 55;

    fn new(key: &[u8]) -> KeyedHmac {
        use sha2::Digest;
        let mut k0 = [0u8; 64];
        if key.len() > 64 {
            k0[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k0[..key.len()].copy_from_slice(key);
        }
        let after_pad = |pad: u8| {
            let mut state = SHA256_IV;
            sha2::compress256(&mut state, &[k0.map(|b| b ^ pad).into()]);
            state
        };
        KeyedHmac { inner: after_pad(0x36), outer: after_pad(0x5c) }
    }

    /// One final block: `data`, the 0x80 marker, zeros, and the bit length of the hashed message
    /// including the 64-byte pad block before it.
    fn last_block(data: &[u8]) -> [u8; 64] {
        let mut block = [0u8; 64];
        block[..data.len()].copy_from_slice(data);
        block[data.len()] = 0x80;
        block[56..].copy_from_slice(&(((64 + data.len()) * 8) as u64).to_be_bytes());
        block
    }

    fn mac(&self, message: &[u8]) -> [u8; 32] {
        assert!(message.len() <= Self::MAX_MESSAGE, "a short message");
        let digest = |mut state: [u32; 8], block: [u8; 64]| {
            sha2::compress256(&mut state, &[block.into()]);
            let mut out = [0u8; 32];
            for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
                chunk.copy_from_slice(&word.to_be_bytes());
            }
            out
        };
        let inner = digest(self.inner, Self::last_block(message));
        digest(self.outer, Self::last_block(&inner))
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey(<secret>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("pseudonymisation key: {0}")]
    Invalid(String),
    #[error("pseudonymisation key file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(
        "no pseudonymisation key: set LMS_PSEUDONYM_KEY (64 hex characters) or LMS_PSEUDONYM_KEY_FILE (a file holding them)"
    )]
    Missing,
}

impl PseudonymKey {
    /// Minimum key length in bytes (HMAC-SHA-256 is keyed with 256 bits).
    pub const MIN_BYTES: usize = 32;

    /// A key from hex text (whitespace around it ignored); a chain from several lines of it, the
    /// first key first (what `lms etl rekey` tells an operator to keep).
    pub fn from_hex(text: &str) -> Result<PseudonymKey, KeyError> {
        let mut keys = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|line| {
            let bytes = hex::decode(line).map_err(|_| KeyError::Invalid("not hex".into()))?;
            if bytes.len() < Self::MIN_BYTES {
                return Err(KeyError::Invalid(format!(
                    "{} bytes; at least {} are needed",
                    bytes.len(),
                    Self::MIN_BYTES
                )));
            }
            Ok(bytes)
        });
        let mut key = PseudonymKey::new(keys.next().ok_or_else(|| KeyError::Invalid("empty".into()))??);
        for bytes in keys {
            let bytes = bytes?;
            key.later.push((bytes.clone(), KeyedHmac::new(&bytes)));
        }
        Ok(key)
    }

    /// This key (or chain) with `next` rotated in after it: what the lake's pseudonyms are made with
    /// once `lms etl rekey` made them again with `next`.
    pub fn then(&self, next: &PseudonymKey) -> PseudonymKey {
        let mut chain = self.clone();
        chain.later.push((next.bytes.clone(), next.keyed.clone()));
        chain.later.extend(next.later.iter().cloned());
        chain
    }

    /// The keys of the chain, one per line as hex, first key first: the key file after a rotation.
    pub fn to_hex_lines(&self) -> String {
        std::iter::once(&self.bytes).chain(self.later.iter().map(|(b, _)| b)).map(|b| hex::encode(b) + "\n").collect()
    }

    /// The key's id: a SHA-256 over every key of the chain, in order, as `sha256:` and hex. It
    /// names a key (a commit records the id of the key its pseudonyms were made with) without
    /// showing it: a key is 256 random bits, which no digest can be searched back from.
    pub fn id(&self) -> String {
        use sha2::Digest;
        let mut h = Sha256::new();
        h.update(b"lms-pseudonym-key-chain\0");
        for bytes in std::iter::once(&self.bytes).chain(self.later.iter().map(|(b, _)| b)) {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    }

    /// Reads a key file (hex text).
    pub fn from_file(path: &Path) -> Result<PseudonymKey, KeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| KeyError::Io { path: path.display().to_string(), source })?;
        Self::from_hex(&text)
    }

    /// The key from `LMS_PSEUDONYM_KEY` (hex) or the file named by `LMS_PSEUDONYM_KEY_FILE`.
    pub fn from_env() -> Result<PseudonymKey, KeyError> {
        if let Ok(hex) = std::env::var("LMS_PSEUDONYM_KEY") {
            return Self::from_hex(&hex);
        }
        if let Ok(path) = std::env::var("LMS_PSEUDONYM_KEY_FILE") {
            return Self::from_file(Path::new(&path));
        }
        Err(KeyError::Missing)
    }

    /// A fresh random key from the operating system.
    pub fn generate() -> PseudonymKey {
        use rand::TryRngCore;
        let mut bytes = vec![0u8; Self::MIN_BYTES];
        rand::rngs::OsRng.try_fill_bytes(&mut bytes).expect("operating system random source");
        PseudonymKey::new(bytes)
    }

    /// Reads the key file at `path`, or creates it with a fresh key (mode 0600 on Unix) when absent.
    /// The demo keeps its key here, outside the lake.
    pub fn load_or_create(path: &Path) -> Result<PseudonymKey, KeyError> {
        if path.exists() {
            return Self::from_file(path);
        }
        let key = Self::generate();
        let io = |source| KeyError::Io { path: path.display().to_string(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        std::io::Write::write_all(&mut file, hex::encode(&key.bytes).as_bytes()).map_err(io)?;
        Ok(key)
    }

    /// The keyed pseudonym of an identity number: HMAC-SHA-256, first 128 bits as 32 hex characters.
    /// Without the key, a pseudonym cannot be recomputed from a candidate number (unlike a plain hash
    /// over the small space of valid numbers).
    pub fn pseudonym(&self, identity_number: &str) -> String {
        let hex = self.pseudonym_hex(identity_number);
        std::str::from_utf8(&hex).expect("hex is ASCII").to_string()
    }

    /// [`pseudonym`](Self::pseudonym) as 32 ASCII hex digits, without an allocation.
    pub fn pseudonym_hex(&self, identity_number: &str) -> [u8; 32] {
        let message = identity_number.as_bytes();
        let mac: [u8; 32] = if message.len() <= KeyedHmac::MAX_MESSAGE {
            self.keyed.mac(message)
        } else {
            let mut mac = Hmac::<Sha256>::new_from_slice(&self.bytes).expect("HMAC takes keys of any length");
            mac.update(message);
            mac.finalize().into_bytes().into()
        };
        let mut out = [0u8; 32];
        hex::encode_to_slice(&mac[..16], &mut out).expect("32 hex digits for 16 bytes");
        // Each later key of a chain: its pseudonym of the pseudonym so far (32 bytes, one block).
        for (_, keyed) in &self.later {
            let mac = keyed.mac(&out);
            hex::encode_to_slice(&mac[..16], &mut out).expect("32 hex digits for 16 bytes");
        }
        out
    }

    fn new(bytes: Vec<u8>) -> PseudonymKey {
        let keyed = KeyedHmac::new(&bytes);
        PseudonymKey { bytes, keyed, later: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Check digits by the formula of extracts.md, written out independently of `check_digits`.
    fn by_formula(n: &str) -> bool {
        let d: Vec<i64> = n.bytes().map(|c| i64::from(c - b'0')).collect();
        let k1 =
            11 - (3 * d[0] + 7 * d[1] + 6 * d[2] + d[3] + 8 * d[4] + 9 * d[5] + 4 * d[6] + 5 * d[7] + 2 * d[8]) % 11;
        let k1 = if k1 == 11 { 0 } else { k1 };
        let k2 = 11
            - (5 * d[0]
                + 4 * d[1]
                + 3 * d[2]
                + 2 * d[3]
                + 7 * d[4]
                + 6 * d[5]
                + 5 * d[6]
                + 4 * d[7]
                + 3 * d[8]
                + 2 * k1)
                % 11;
        let k2 = if k2 == 11 { 0 } else { k2 };
        k1 != 10 && k2 != 10 && k1 == d[9] && k2 == d[10]
    }

    #[test]
    fn known_numbers() {
        // Synthetic test numbers only in the source (month + 80): 01.81.01, individual 234 (1900s).
        // By hand: k1 = 11 - (3*0+7*1+6*8+1*1+8*0+9*1+4*2+5*3+2*4) mod 11 = 11 - 96 mod 11 = 11 - 8 = 3;
        // k2 = 11 - (5*0+4*1+3*8+2*1+7*0+6*1+5*2+4*3+3*4+2*3) mod 11 = 11 - 76 mod 11 = 11 - 10 = 1.
        let id = parse("01810123431").unwrap();
        assert_eq!(id.birth_date, date(1901, 1, 1));
        assert_eq!(id.sex, Sex::Female); // i3 = 4, even
        assert!(id.kind.synthetic && !id.kind.d_number && !id.kind.h_number);
        assert_eq!(parse("01810123432"), Err(IdentityError::CheckDigit));
        assert_eq!(parse("0181012343"), Err(IdentityError::Shape));
        assert_eq!(parse("0181012343a"), Err(IdentityError::Shape));
        // The plain form of the same digits, built here rather than written down (a plain number
        // could be a real person's).
        let first9 = [0, 1, 0, 1, 0, 1, 2, 3, 4];
        let (k1, k2) = check_digits(&first9).unwrap();
        let plain: String = first9.iter().chain([&k1, &k2]).map(|d| char::from_digit(*d, 10).unwrap()).collect();
        assert!(by_formula(&plain));
        let id = parse(&plain).unwrap();
        assert_eq!(id.birth_date, date(1901, 1, 1));
        assert!(!id.kind.synthetic && !id.kind.d_number && !id.kind.h_number);
        // H-number form: month + 40.
        let first9 = [0, 1, 4, 1, 0, 1, 2, 3, 4];
        let (k1, k2) = check_digits(&first9).unwrap();
        let h: String = first9.iter().chain([&k1, &k2]).map(|d| char::from_digit(*d, 10).unwrap()).collect();
        let id = parse(&h).unwrap();
        assert!(id.kind.h_number && !id.kind.synthetic);
        assert_eq!(id.birth_date, date(1901, 1, 1));
    }

    /// A number with these six date digits: the first individual number from 234 (1900s) whose
    /// check digits exist.
    fn number(date: [u32; 6]) -> String {
        (234..500)
            .find_map(|i: u32| {
                let first9 = [date[0], date[1], date[2], date[3], date[4], date[5], i / 100, i / 10 % 10, i % 10];
                let (k1, k2) = check_digits(&first9)?;
                Some(first9.iter().chain([&k1, &k2]).map(|d| char::from_digit(*d, 10).unwrap()).collect())
            })
            .unwrap()
    }

    #[test]
    fn identity_numbers_are_found_in_text_in_every_form() {
        // Built here (a plain number written down could be a real person's): ordinary, D (day +
        // 40), H (month + 40) and synthetic (month + 80) forms of 1 January 1901.
        let forms = [
            number([0, 1, 0, 1, 0, 1]),
            number([4, 1, 0, 1, 0, 1]),
            number([0, 1, 4, 1, 0, 1]),
            number([0, 1, 8, 1, 0, 1]),
        ];
        for n in &forms {
            assert!(parse(n).is_ok(), "{n}");
            let (date, person) = n.split_at(6);
            for text in [
                n.clone(),
                format!("Kurs for {n}"),
                format!("{n}, pasient"),
                format!("K{n}"),
                format!("{date} {person}"),
                format!("ring {date}-{person} i dag"),
                format!("{date}.{person}"),
            ] {
                assert!(has_identity_number(&text), "{text}");
                let masked = mask_identity_numbers(&text);
                assert!(!masked.contains(person) && masked.contains(MASK), "{text} → {masked}");
            }
        }
        // Two in one text: both masked, the rest kept.
        let two = format!("{} og {}", forms[0], forms[3]);
        assert_eq!(mask_identity_numbers(&two), "<masked> og <masked>");
        // Not one: a wrong check digit, more or fewer digits in the run, other separators, dates.
        let mut wrong = forms[0].clone().into_bytes();
        wrong[10] = b'0' + (wrong[10] - b'0' + 1) % 10;
        let wrong = String::from_utf8(wrong).unwrap();
        for text in [
            wrong,
            format!("1{}", forms[0]),
            format!("{}9", forms[0]),
            forms[0][..10].to_string(),
            format!("{}/{}", &forms[0][..6], &forms[0][6..]),
            format!("{}  {}", &forms[0][..6], &forms[0][6..]),
            "2024-01-15".into(),
            "HSO-K2024-01-P001".into(),
        ] {
            assert!(!has_identity_number(&text), "{text}");
            assert_eq!(mask_identity_numbers(&text), text);
        }
    }

    #[test]
    fn century_rule() {
        assert_eq!(century(0, 50), Some(1900));
        assert_eq!(century(499, 10), Some(1900));
        assert_eq!(century(500, 54), Some(1800));
        assert_eq!(century(749, 99), Some(1800));
        assert_eq!(century(500, 0), Some(2000));
        assert_eq!(century(999, 39), Some(2000));
        assert_eq!(century(900, 40), Some(1900));
        assert_eq!(century(600, 45), None);
        assert_eq!(century(800, 60), None);
    }

    #[test]
    fn synthetic_and_d_forms_derive_the_same_person_data() {
        let birth = date(2004, 2, 29);
        let plain = (500..1000).find_map(|i| synthetic_number(birth, i, false)).unwrap();
        assert_eq!(&plain[2..4], "82"); // month + 80
        let id = parse(&plain).unwrap();
        assert_eq!(id.birth_date, birth);
        assert!(id.kind.synthetic && !id.kind.d_number);
        let dform = (500..1000).find_map(|i| synthetic_number(birth, i, true)).unwrap();
        assert_eq!(&dform[0..2], "69"); // day + 40
        let id = parse(&dform).unwrap();
        assert_eq!(id.birth_date, birth);
        assert!(id.kind.synthetic && id.kind.d_number);
        assert_eq!(id.age_on(date(2025, 2, 28)), 20);
        assert_eq!(id.age_on(date(2025, 3, 1)), 21);
    }

    #[test]
    fn a_rotated_key_is_a_chain_that_keeps_a_person_one_pseudonym() {
        let old = PseudonymKey::from_hex(&"11".repeat(32)).unwrap();
        let new = PseudonymKey::from_hex(&"22".repeat(32)).unwrap();
        let chain = old.then(&new);
        let n = "01010112345";
        // What `lms etl rekey` stores (the new key's pseudonym of the old pseudonym) is what the
        // chain makes of the number at the next delivery.
        assert_eq!(chain.pseudonym(n), new.pseudonym(&old.pseudonym(n)));
        assert_ne!(chain.pseudonym(n), old.pseudonym(n));
        assert_ne!(chain.pseudonym(n), new.pseudonym(n));
        // Written as the key file's lines and read back, the same chain.
        let again = PseudonymKey::from_hex(&chain.to_hex_lines()).unwrap();
        assert_eq!(again.pseudonym(n), chain.pseudonym(n));
        assert_eq!(chain.to_hex_lines(), format!("{}\n{}\n", "11".repeat(32), "22".repeat(32)));
        // Ids: one per chain, none showing a key.
        let ids = [old.id(), new.id(), chain.id(), new.then(&old).id()];
        for (i, a) in ids.iter().enumerate() {
            assert!(a.starts_with("sha256:") && a.len() == 71, "{a}");
            assert!(!a.contains(&"11".repeat(8)) && !a.contains(&"22".repeat(8)));
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(again.id(), chain.id());
        assert!(PseudonymKey::from_hex("\n\n").is_err());
        assert!(PseudonymKey::from_hex(&format!("{}\nzz", "11".repeat(32))).is_err());
    }

    #[test]
    fn pseudonyms_are_keyed() {
        let a = PseudonymKey::from_hex(&"11".repeat(32)).unwrap();
        let b = PseudonymKey::from_hex(&"22".repeat(32)).unwrap();
        let n = "01810123431";
        assert_eq!(a.pseudonym(n), a.pseudonym(n));
        assert_ne!(a.pseudonym(n), b.pseudonym(n));
        assert_eq!(a.pseudonym(n).len(), 32);
        assert!(!a.pseudonym(n).contains(n));
        assert!(PseudonymKey::from_hex("abcd").is_err());
        assert_eq!(format!("{a:?}"), "PseudonymKey(<secret>)");
    }

    /// RFC 4231 test case 6: a key longer than a block is hashed first (the message is 54 bytes,
    /// one block); test case 7's message is longer than a block.
    #[test]
    fn keyed_hmac_follows_rfc_4231_for_long_keys_and_messages() {
        let key = PseudonymKey::new(vec![0xaa; 131]);
        let mac = key.keyed.mac(b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
        let long = "This is a test using a larger than block-size key and a larger than block-size data. \
                    The key needs to be hashed before being used by the HMAC algorithm.";
        assert_eq!(key.pseudonym(long), "9b09ffa71b942fcb27635fbcd5b0e944");
    }

    proptest! {
        /// The two-compression HMAC agrees with the generic implementation for any key and message.
        #[test]
        fn keyed_hmac_agrees_with_the_hmac_crate(key in proptest::collection::vec(any::<u8>(), 0..150),
                                                 message in proptest::collection::vec(any::<u8>(), 0..=55)) {
            let mut generic = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            generic.update(&message);
            let expected: [u8; 32] = generic.finalize().into_bytes().into();
            prop_assert_eq!(KeyedHmac::new(&key).mac(&message), expected);
        }
    }

    /// The pseudonym is HMAC-SHA-256 as RFC 4231 defines it (test case 2), cut to 128 bits, and a
    /// key reused for many numbers gives each the same pseudonym as a fresh key would.
    #[test]
    fn pseudonym_is_rfc_4231_hmac_sha256() {
        let key = PseudonymKey::new(b"Jefe".to_vec());
        assert_eq!(key.pseudonym("what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c7");
        let reused = PseudonymKey::from_hex(&"ab".repeat(32)).unwrap();
        for n in ["01810123431", "x", ""] {
            let fresh = PseudonymKey::from_hex(&"ab".repeat(32)).unwrap();
            assert_eq!(reused.pseudonym(n), fresh.pseudonym(n));
            assert_eq!(reused.pseudonym_hex(n), fresh.pseudonym(n).as_bytes());
        }
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets/pseudonym.key");
        let k1 = PseudonymKey::load_or_create(&path).unwrap();
        let k2 = PseudonymKey::load_or_create(&path).unwrap();
        assert_eq!(k1.pseudonym("x"), k2.pseudonym("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    proptest! {
        /// Masking removes a planted synthetic number wherever it stands, and leaves text
        /// without one as it was.
        #[test]
        fn masking_leaves_no_identity_number(text in "[0-9 .a-z-]{0,40}", days in 0i64..(100 * 365), individual in 0u32..500, at in 0usize..40) {
            // A number planted in random text of digits, separators and letters.
            let birth = NaiveDate::from_ymd_opt(1930, 1, 1).unwrap() + chrono::Duration::days(days);
            if let Some(n) = synthetic_number(birth, individual, false) {
                let at = text.char_indices().map(|(i, _)| i).chain([text.len()]).nth(at).unwrap_or(text.len());
                let planted = format!("{} {n} {}", &text[..at], &text[at..]);
                prop_assert!(has_identity_number(&planted));
                let masked = mask_identity_numbers(&planted);
                prop_assert!(!has_identity_number(&masked), "{planted} → {masked}");
                prop_assert!(!masked.contains(&n));
            }
            // Masking is idempotent and never adds a number.
            let once = mask_identity_numbers(&text).into_owned();
            prop_assert_eq!(mask_identity_numbers(&once).into_owned(), once.clone());
            prop_assert!(!has_identity_number(&once));
        }

        /// Every 11-digit string: `parse` accepts exactly when the formula holds and the date and
        /// century are valid; what it derives agrees with the digits.
        #[test]
        fn parse_agrees_with_the_formula(n in "[0-9]{11}") {
            match parse(&n) {
                Ok(id) => {
                    prop_assert!(by_formula(&n));
                    let i3 = n.as_bytes()[8] - b'0';
                    prop_assert_eq!(id.sex, if i3 % 2 == 1 { Sex::Male } else { Sex::Female });
                    prop_assert_eq!(id.birth_date.year() % 100, n[4..6].parse::<i32>().unwrap());
                }
                Err(IdentityError::CheckDigit) => prop_assert!(!by_formula(&n)),
                Err(_) => prop_assert!(by_formula(&n)),
            }
        }

        /// A synthetic number made for a birth date parses back to that date, and changing any one
        /// digit breaks it (the check digits catch every single-digit error).
        #[test]
        fn synthetic_round_trip(days in 0i64..(200 * 365), individual in 0u32..1000, d in any::<bool>(), pos in 0usize..11, delta in 1u32..10) {
            let birth = date(1855, 1, 1) + chrono::Duration::days(days);
            if let Some(n) = synthetic_number(birth, individual, d) {
                let id = parse(&n).unwrap();
                prop_assert_eq!(id.birth_date, birth);
                prop_assert_eq!(id.kind.d_number, d);
                prop_assert!(id.kind.synthetic);
                let mut b = n.into_bytes();
                b[pos] = b'0' + ((u32::from(b[pos] - b'0') + delta) % 10) as u8;
                let changed = String::from_utf8(b).unwrap();
                prop_assert_eq!(parse(&changed), Err(IdentityError::CheckDigit));
            }
        }
    }
}
