//! From pieces to the matching key: header detection and variable collapsing.
//!
//! Lines arrive with their headers (timestamp, level, host, component, pid),
//! and the same message may come from different components or levels. The
//! header's variable parts are masked anyway; its constant parts (level,
//! component) would split one message into several templates and dilute the
//! merge evidence. So the key starts after the header when a header end is
//! recognised in the first few fields:
//!
//! * the first field ending in `:` that has a letter (`sshd[42]:`,
//!   `dfs.DataNode:`), the syslog/log4j convention; otherwise
//! * the last standalone `-` field, `[...]` field, severity word or `|`
//!   separator (`... INFO [x] - msg`, `time|comp|pid|msg`, `[time] [level]
//!   msg`, `RAS KERNEL FATAL msg`).
//!
//! A bracketed group counts as one field even if it contains spaces (thread
//! names). "First few" means: before the `max_fields + 1`-th field that holds a
//! constant, so a colon deep inside the message is never taken for a header.
//! When nothing is recognised the whole line is the key (headers made only of
//! masked variables and one or two level/component words, as in BGL or HPC).

use crate::patterns::mask::{Piece, PieceKind};

/// Severity words that end a header (`... RAS KERNEL INFO message`).
fn is_level(w: &[u8]) -> bool {
    const LEVELS: [&[u8]; 13] = [
        b"TRACE",
        b"DEBUG",
        b"INFO",
        b"NOTICE",
        b"WARN",
        b"WARNING",
        b"ERROR",
        b"SEVERE",
        b"FATAL",
        b"CRITICAL",
        b"ALERT",
        b"EMERG",
        b"FAILURE",
    ];
    // Cheap filter first: this runs for every header field of every line.
    (4..=8).contains(&w.len()) && w[0].is_ascii_alphabetic() && LEVELS.iter().any(|l| l.eq_ignore_ascii_case(w))
}

/// The text that stands for a run of variables in keys and templates.
pub const VAR: &str = "<*>";

/// Index of the first piece after the header (0 = no header found).
pub fn header_end(line: &str, pieces: &[Piece], max_fields: usize) -> usize {
    let b = line.as_bytes();
    let mut const_fields = 0;
    let mut field_start = 0usize; // piece index where the current field starts
    let mut field_has_const = false;
    let mut sep_end = 0;
    // Inside `[...]` a field may contain spaces (`[IPC Server handler 3]`).
    let mut depth = 0i32;
    for (k, p) in pieces.iter().enumerate() {
        if p.kind == PieceKind::Punct {
            match b[p.start as usize] {
                b'[' => depth += 1,
                b']' => depth = (depth - 1).max(0),
                _ => {}
            }
        }
        if p.kind == PieceKind::Const && !field_has_const {
            field_has_const = true;
            const_fields += 1;
            if const_fields > max_fields {
                break;
            }
        }
        if p.kind == PieceKind::Punct && b[p.start as usize] == b'|' && k + 1 < pieces.len() {
            sep_end = k + 1;
        }
        let ends_field = pieces.get(k + 1).is_none_or(|q| q.start > p.end);
        if !ends_field || depth > 0 {
            continue;
        }
        let text = &b[pieces[field_start].start as usize..p.end as usize];
        // A header is followed by a message: never end it at the last piece.
        if k + 1 == pieces.len() {
            break;
        }
        // `sshd[42]:`, or a pid alone after a component with a space in its
        // name (`Bezel Services 255.10[94]:`).
        if text.len() > 1 && text.ends_with(b":") && (field_has_const || text.ends_with(b"]:")) {
            return k + 1;
        }
        let bracketed = text.len() > 2 && text[0] == b'[' && text[text.len() - 1] == b']';
        if (text == b"-" || bracketed || is_level(text)) && k > 0 {
            sep_end = k + 1;
        }
        field_start = k + 1;
        field_has_const = false;
    }
    sep_end
}

/// Fields looked at when learning a column header.
const MAX_COLUMNS: usize = 12;

/// Does the text between two pieces contain whitespace (a field boundary)?
pub fn is_field_gap(line: &str, prev_end: u32, next_start: u32) -> bool {
    line.as_bytes()[prev_end as usize..next_start as usize].iter().any(u8::is_ascii_whitespace)
}

/// Numbers the fields of a line, piece by piece: whitespace separates fields,
/// except inside `[...]` (thread names, request ids), as in [`header_end`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FieldCounter {
    field: u32,
    depth: u32,
}

impl FieldCounter {
    /// Field number of `pieces[k]`; call for k = 0, 1, 2, … in order.
    pub fn field_of(&mut self, line: &str, pieces: &[Piece], k: usize) -> u32 {
        if k > 0 && self.depth == 0 && is_field_gap(line, pieces[k - 1].end, pieces[k].start) {
            self.field += 1;
        }
        let p = &pieces[k];
        if p.kind == PieceKind::Punct {
            match line.as_bytes()[p.start as usize] {
                b'[' => self.depth += 1,
                b']' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        self.field
    }
}

/// Field number of every piece.
pub fn piece_fields(line: &str, pieces: &[Piece]) -> Vec<u32> {
    let mut fc = FieldCounter::default();
    (0..pieces.len()).map(|k| fc.field_of(line, pieces, k)).collect()
}

/// Index of the first piece of field `f` (0-based), if any.
pub fn field_start(line: &str, pieces: &[Piece], f: usize) -> Option<usize> {
    let mut fc = FieldCounter::default();
    (0..pieces.len()).find(|&k| fc.field_of(line, pieces, k) as usize == f)
}

/// Which of the first fields of a line hold no constant (bit `f` set), and
/// how many fields there are (capped): one vote for the column header.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColumnSignature {
    variable: u16,
    fields: u8,
}

impl ColumnSignature {
    /// Signature of one line.
    pub fn of(line: &str, pieces: &[Piece]) -> ColumnSignature {
        let mut has_const = 0u16;
        let mut field = 0usize;
        let mut fc = FieldCounter::default();
        for (k, p) in pieces.iter().enumerate() {
            field = fc.field_of(line, pieces, k) as usize;
            if field >= MAX_COLUMNS {
                field = MAX_COLUMNS - 1;
                break;
            }
            if p.kind == PieceKind::Const {
                has_const |= 1 << field;
            }
        }
        let fields = if pieces.is_empty() { 0 } else { field.min(MAX_COLUMNS - 1) + 1 };
        let all = (1u16 << fields) - 1;
        ColumnSignature { variable: !has_const & all, fields: fields as u8 }
    }
}

/// Learns a fixed-column header (`<id> <node> <component> <state> <time>
/// <flag> message`): the leading fields up to the last one that holds no
/// constant in at least `min_share` of the templates. Constants in front of
/// it (component, state) are then header too. Templates vote, not lines, so
/// a burst of one message early in a stream cannot make its own variables
/// look like header columns.
pub fn learn_columns(votes: &[ColumnSignature], min_share: f64) -> usize {
    if votes.is_empty() {
        return 0;
    }
    let need = (min_share * votes.len() as f64).ceil() as usize;
    (0..MAX_COLUMNS)
        .rev()
        .find(|&f| votes.iter().filter(|v| v.variable & (1 << f) != 0).count() >= need)
        .map_or(0, |f| f + 1)
}

/// The key tokens of `pieces`: constants as they are, each run of variables
/// (with only punctuation between) as one [`VAR`]. Runs collapse because lists
/// of numbers or addresses vary in length from line to line.
pub fn key_tokens<'a>(line: &'a str, pieces: &'a [Piece]) -> impl Iterator<Item = &'a str> + 'a {
    let mut last_var = false;
    pieces.iter().filter_map(move |p| match p.kind {
        PieceKind::Const => {
            last_var = false;
            Some(p.text(line))
        }
        PieceKind::Var if !last_var => {
            last_var = true;
            Some(VAR)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patterns::mask::{tokenize, TokenizeOptions};

    fn content(line: &str) -> Vec<String> {
        let mut p = Vec::new();
        let o = TokenizeOptions { mask_quoted: false, max_bytes: 4096 };
        tokenize(line, o, &mut p);
        let h = header_end(line, &p, 3);
        key_tokens(line, &p[h..]).map(str::to_string).collect()
    }

    #[test]
    fn syslog_header_is_skipped() {
        assert_eq!(
            content("Jun 14 15:16:02 combo sshd(pam_unix)[19937]: check pass; user unknown"),
            ["check", "pass", "user", "unknown"]
        );
    }

    #[test]
    fn dash_and_pipe_headers() {
        assert_eq!(
            content("2015-07-29 17:41:44,747 - INFO  [main:Foo@77] - Notification time out: 3200"),
            ["Notification", "time", "out", VAR]
        );
        assert_eq!(
            content("20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579"),
            ["onStandStepChanged", VAR]
        );
    }

    #[test]
    fn bracketed_thread_name_is_one_field() {
        assert_eq!(
            content("2015-10-18 18:01:53,838 INFO [AsyncDispatcher event handler] a.b.Resolver: Resolved x to y"),
            ["Resolved", "x", "to", "y"]
        );
    }

    #[test]
    fn deep_colon_is_not_a_header() {
        assert_eq!(content("cpu0 node7 check failed in core: 42"), [VAR, "check", "failed", "in", "core", VAR]);
    }

    #[test]
    fn column_header_is_learned() {
        let o = TokenizeOptions { mask_quoted: false, max_bytes: 4096 };
        let mut p = Vec::new();
        let mut votes = Vec::new();
        for line in [
            "11 node-1 unix.hw state 1077804742 1 Link error",
            "12 node-2 other comp 1077804743 1 Link ok",
            "13 node-3 unix.hw state 1077804744 1 running",
        ] {
            tokenize(line, o, &mut p);
            votes.push(ColumnSignature::of(line, &p));
        }
        assert_eq!(learn_columns(&votes, 0.95), 6);
        let line = "14 node-4 x y 1077804745 1 Link ok";
        tokenize(line, o, &mut p);
        assert_eq!(field_start(line, &p, 6).map(|k| p[k].text(line)), Some("Link"));
    }

    #[test]
    fn severity_word_ends_header() {
        assert_eq!(
            content("- 1117838570 R02-M1 RAS KERNEL INFO instruction cache parity error corrected"),
            ["instruction", "cache", "parity", "error", "corrected"]
        );
        // ... but a message made of a severity word alone stays a message.
        assert_eq!(content("2556843 gige5 gige temperature 1072878243 1 warning").last(), Some(&"warning".to_string()));
    }

    #[test]
    fn variable_runs_collapse() {
        assert_eq!(content("ask 1.2.3.4:50010 to 1.2.3.5:50010 1.2.3.6:50010 now"), ["ask", VAR, "to", VAR, "now"]);
    }
}
