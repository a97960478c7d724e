//! Splitting a byte stream into capped, lossily decoded lines.

use std::io::{self, BufRead};

use jiff::Timestamp;

/// A line as decoded from bytes.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub line: String,
    pub truncated: bool,
    pub lossy: bool,
    /// When the read that completed the line returned.
    pub read_at: Timestamp,
}

/// Splits a byte stream into capped lines. A line without its newline at EOF stays pending, so a
/// followed file can complete it later; [`Splitter::take_partial`] hands it out when it is final.
#[derive(Debug)]
pub(crate) struct Splitter {
    cap: usize,
    buf: Vec<u8>,
    truncated: bool,
    /// The time of the buffer being split; `None` once it is used up, so the next read is timed.
    /// One clock reading per read, not per line: the lines of one read arrived together.
    read_at: Option<Timestamp>,
}

impl Splitter {
    pub(crate) fn new(cap: usize) -> Self {
        Splitter { cap: cap.max(1), buf: Vec::new(), truncated: false, read_at: None }
    }

    /// Reads up to the next newline. Returns the line if one was completed (`None` at EOF, the
    /// partial line kept) and the number of bytes consumed.
    pub(crate) fn next_line(&mut self, r: &mut impl BufRead) -> io::Result<(Option<Decoded>, u64)> {
        let mut consumed = 0u64;
        loop {
            let avail = match r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok((None, consumed));
            }
            let read_at = *self.read_at.get_or_insert_with(Timestamp::now);
            let newline = memchr::memchr(b'\n', avail);
            let chunk = &avail[..newline.unwrap_or(avail.len())];
            let room = self.cap.saturating_sub(self.buf.len());
            let keep = chunk.len().min(room);
            if self.buf.is_empty() {
                self.buf.reserve_exact(keep); // most lines: one allocation of the right size
            }
            self.buf.extend_from_slice(&chunk[..keep]);
            self.truncated |= chunk.len() > room;
            let used = chunk.len() + usize::from(newline.is_some());
            if used == avail.len() {
                self.read_at = None;
            }
            r.consume(used);
            consumed += used as u64;
            if newline.is_some() {
                return Ok((Some(self.finish(read_at)), consumed));
            }
        }
    }

    /// The pending partial line (no newline seen), if any.
    pub(crate) fn take_partial(&mut self) -> Option<Decoded> {
        (!self.buf.is_empty() || self.truncated).then(|| self.finish(self.read_at.unwrap_or_else(Timestamp::now)))
    }

    fn finish(&mut self, read_at: Timestamp) -> Decoded {
        let mut bytes = std::mem::take(&mut self.buf);
        let truncated = std::mem::take(&mut self.truncated);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        if truncated {
            cut_partial_char(&mut bytes);
        }
        match String::from_utf8(bytes) {
            Ok(line) => Decoded { line, truncated, lossy: false, read_at },
            Err(e) => {
                let line = String::from_utf8_lossy(e.as_bytes()).into_owned();
                Decoded { line, truncated, lossy: true, read_at }
            }
        }
    }
}

/// Splits all of `data` as a file source would, read `chunk` bytes at a time (so lines straddle
/// reads), each line capped at `cap` bytes: the lines, and whether each was truncated. The entry
/// point of the line-reader fuzz target (`fuzz/fuzz_targets/split_lines.rs`).
#[doc(hidden)]
pub fn split_all(data: &[u8], chunk: usize, cap: usize) -> Vec<(String, bool)> {
    let mut r = io::BufReader::with_capacity(chunk.max(1), data);
    let mut s = Splitter::new(cap);
    let mut out = Vec::new();
    while let Ok((Some(d), _)) = s.next_line(&mut r) {
        out.push((d.line, d.truncated));
    }
    out.extend(s.take_partial().map(|d| (d.line, d.truncated)));
    out
}

/// Drops an incomplete UTF-8 sequence the cap left at the end, so a cut line ends on a whole char.
fn cut_partial_char(bytes: &mut Vec<u8>) {
    let len = bytes.len();
    for back in 1..=3.min(len) {
        let b = bytes[len - back];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte
        }
        let need = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        if need > back {
            bytes.truncate(len - back);
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Read};

    use super::*;

    /// Splits all of `r` with a tiny read buffer, so lines straddle buffer refills.
    fn split_all(r: impl Read, cap: usize) -> Vec<Decoded> {
        let mut reader = BufReader::with_capacity(7, r);
        let mut s = Splitter::new(cap);
        let mut out = Vec::new();
        while let (Some(d), _) = s.next_line(&mut reader).unwrap() {
            out.push(d);
        }
        out.extend(s.take_partial());
        out
    }

    fn lines(ds: &[Decoded]) -> Vec<&str> {
        ds.iter().map(|d| d.line.as_str()).collect()
    }

    #[test]
    fn crlf_empty_lines_and_missing_final_newline() {
        let got = split_all(&b"one\r\ntwo\n\nthree\r\nlast without newline"[..], 1024);
        assert_eq!(lines(&got), ["one", "two", "", "three", "last without newline"]);
        assert!(got.iter().all(|d| !d.truncated && !d.lossy));
        assert!(split_all(&b""[..], 1024).is_empty());
        assert_eq!(lines(&split_all(&b"\n"[..], 1024)), [""]);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_flagged() {
        let got = split_all(&b"ok\ncaf\xe9 \xff\xfe\nok again\n"[..], 1024);
        assert_eq!(lines(&got), ["ok", "caf\u{fffd} \u{fffd}\u{fffd}", "ok again"]);
        assert_eq!(got.iter().map(|d| d.lossy).collect::<Vec<_>>(), [false, true, false]);
    }

    #[test]
    fn long_lines_are_capped_at_a_char_boundary() {
        let mut input = "é".repeat(1000).into_bytes(); // 2000 bytes
        input.extend_from_slice(b"\r\nnext\n");
        let got = split_all(&input[..], 301);
        assert_eq!(got.len(), 2);
        assert!(got[0].truncated);
        assert!(!got[0].lossy, "a cut inside a char must not leave a broken char");
        assert_eq!(got[0].line, "é".repeat(150));
        assert_eq!(got[1].line, "next");
        assert!(!got[1].truncated);
    }

    #[test]
    fn a_huge_line_is_not_held_in_memory() {
        // 64 MiB of one line, produced on the fly; the splitter keeps only the cap.
        let huge = io::repeat(b'x').take(64 << 20).chain(&b"\nafter\n"[..]);
        let mut reader = BufReader::new(huge);
        let mut s = Splitter::new(1024);
        let (first, consumed) = s.next_line(&mut reader).unwrap();
        let first = first.unwrap();
        assert_eq!((first.line.len(), first.truncated, consumed), (1024, true, (64 << 20) + 1));
        assert!(s.buf.capacity() < 64 * 1024);
        assert_eq!(s.next_line(&mut reader).unwrap().0.unwrap().line, "after");
    }
}
