//! An input whose records are held to a size, so that one huge field costs no more memory than
//! [`MAX_RECORD_BYTES`] (the CSV parser and a JSON line would otherwise hold it whole).
//!
//! A record is a line, or for CSV a line with its quoted line breaks. Past the limit the rest of the
//! record is dropped and it ends as the parser expects (a quote closed where one was open), followed
//! by as many line breaks as were dropped: blank lines carry no record, so every later record keeps
//! its line number. The record's first line is noted ([`Bounded::is_cut`]) and the reader rejects it
//! by rule `record_too_long`.

use std::collections::BTreeSet;
use std::io::Read;

/// The largest record read whole (1 MiB): no extract's row comes near it.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

pub struct Bounded<R> {
    inner: R,
    limit: usize,
    /// Quotes count (CSV); a JSON line ends at its line break whatever its quotes.
    csv: bool,
    in_quotes: bool,
    /// Bytes of the current record passed on.
    len: usize,
    /// The line the current record starts on (1-based), and the line now.
    record_start: u64,
    line: u64,
    /// Past the limit: whether the parser is inside a quoted field, and the line breaks dropped.
    cut: Option<(bool, usize)>,
    /// What is still to pass on after a cut record ends.
    pending: Vec<u8>,
    cut_lines: BTreeSet<u64>,
    /// Read from `inner`, not yet stepped through: `buf[pos..end]`.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl<R: Read> Bounded<R> {
    pub fn new(inner: R, csv: bool, limit: usize) -> Bounded<R> {
        Bounded {
            inner,
            limit,
            csv,
            in_quotes: false,
            len: 0,
            record_start: 1,
            line: 1,
            cut: None,
            pending: Vec::new(),
            cut_lines: BTreeSet::new(),
            buf: vec![0; 1 << 16],
            pos: 0,
            end: 0,
        }
    }

    /// Whether the record that starts on `line` was cut at the limit.
    pub fn is_cut(&self, line: u64) -> bool {
        self.cut_lines.contains(&line)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Passes `b` on (into `out` at `n`), or drops it past the limit.
    fn step(&mut self, b: u8, out: &mut [u8], n: &mut usize) {
        let quoted_before = self.in_quotes;
        if self.csv && b == b'"' {
            self.in_quotes = !self.in_quotes;
        }
        let ends = b == b'\n' && !self.in_quotes;
        if b == b'\n' {
            self.line += 1;
        }
        if let Some((quoted, breaks)) = &mut self.cut {
            if ends {
                if *quoted {
                    self.pending.push(b'"');
                }
                self.pending.extend(std::iter::repeat_n(b'\n', *breaks + 1));
                self.cut = None;
            } else if b == b'\n' {
                *breaks += 1;
            }
        } else if !ends && self.len >= self.limit {
            self.cut_lines.insert(self.record_start);
            self.cut = Some((quoted_before, usize::from(b == b'\n')));
        } else {
            out[*n] = b;
            *n += 1;
            self.len += 1;
        }
        if ends {
            self.len = 0;
            self.record_start = self.line;
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.pending.is_empty() {
                let k = self.pending.len().min(out.len());
                out[..k].copy_from_slice(&self.pending[..k]);
                self.pending.drain(..k);
                return Ok(k);
            }
            if self.pos == self.end {
                let got = self.inner.read(&mut self.buf)?;
                if got == 0 {
                    // The end inside a cut record: close its quote, so the parser ends it too, and
                    // give back the line breaks dropped.
                    if let Some((quoted, breaks)) = self.cut.take()
                        && (quoted || breaks > 0)
                    {
                        if quoted {
                            self.pending.push(b'"');
                        }
                        self.pending.extend(std::iter::repeat_n(b'\n', breaks));
                        continue;
                    }
                    return Ok(0);
                }
                (self.pos, self.end) = (0, got);
            }
            let mut n = 0;
            // Each byte in gives at most one out; a cut record's ending goes out before what follows.
            while self.pos < self.end && n < out.len() && self.pending.is_empty() {
                let b = self.buf[self.pos];
                self.pos += 1;
                self.step(b, out, &mut n);
            }
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(input: &[u8], csv: bool, limit: usize) -> (Vec<u8>, Vec<u64>) {
        let mut b = Bounded::new(input, csv, limit);
        let mut out = Vec::new();
        // Small reads, so records straddle calls.
        let mut chunk = [0u8; 3];
        loop {
            let n = b.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        (out, b.cut_lines.into_iter().collect())
    }

    #[test]
    fn records_within_the_limit_pass_unchanged() {
        let input = b"a,b\n\"x\ny\",2\n3,4\n";
        assert_eq!(through(input, true, 100), (input.to_vec(), vec![]));
    }

    #[test]
    fn a_long_record_is_cut_and_later_lines_keep_their_numbers() {
        // Line 2 is too long (unquoted); lines 3-5 are one quoted record too long; line 6 is fine.
        let input = b"h1,h2\nabcdefghij,1\n\"q\nrstuvwxyz\nend\",2\nok,3\n";
        let (out, cut) = through(input, true, 6);
        assert_eq!(cut, vec![2, 3]);
        assert_eq!(String::from_utf8(out).unwrap(), "h1,h2\nabcdef\n\"q\nrst\"\n\nok,3\n");
    }

    proptest::proptest! {
        /// Every line break comes out (so later records keep their lines), a record within the
        /// limit comes out as it went in, and (without quotes) no line comes out longer than the limit.
        #[test]
        fn line_breaks_are_kept_and_records_bounded(input in "[ab\",\n]{0,300}", limit in 1usize..40) {
            let (out, _) = through(input.as_bytes(), true, limit);
            let breaks = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
            proptest::prop_assert_eq!(breaks(&out), breaks(input.as_bytes()));
            if !input.contains('"') {
                proptest::prop_assert!(out.split(|&c| c == b'\n').all(|l| l.len() <= limit));
                if input.split('\n').all(|l| l.len() <= limit) {
                    proptest::prop_assert_eq!(out, input.as_bytes().to_vec());
                }
            }
        }
    }

    #[test]
    fn json_lines_end_at_the_line_break() {
        let (out, cut) = through(b"{\"a\":\"\\\"xxxxxxxx\"}\n{}\n", false, 5);
        assert_eq!(cut, vec![1]);
        assert_eq!(out, b"{\"a\":\n{}\n");
    }
}
