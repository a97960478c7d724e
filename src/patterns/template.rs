//! One template: its constant tokens, which of them became variables through
//! merging, how to print it, and its statistics.

use crate::patterns::key::{ColumnSignature, VAR};
use crate::patterns::mask::{Piece, PieceKind};

/// How the template is printed: the first line's layout with variables blanked.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
pub(crate) enum Seg {
    /// Literal text (whitespace, punctuation).
    Lit(Box<str>),
    /// The constant token with this index (printed as `<*>` once it is wildcarded).
    Const(u32),
    /// A masked variable (inside a run already keyed), with its field.
    Var(u32),
}

/// Statistics and content of a live template.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
pub(crate) struct Template {
    /// Constant tokens, in line order: the matching key.
    pub tokens: Vec<Box<str>>,
    /// Index of the whitespace-separated field of the first line each token
    /// came from: tells whether a constant is glued to a variable, and which
    /// tokens a learned column header removes.
    pub field: Vec<u32>,
    /// `wild[i]`: token `i` is a variable run or was found to vary; it matches
    /// anything.
    pub wild: Vec<bool>,
    /// The event had continuation lines (stack trace etc.).
    pub multiline: bool,
    /// Column signature of the first line (a vote for the header columns).
    pub columns: ColumnSignature,
    /// Layout for printing.
    pub skeleton: Vec<Seg>,
    /// Lines assigned so far.
    pub count: u64,
    /// Timestamp (or line number) of the first line.
    pub first_seen: u64,
    /// Timestamp (or line number) of the last line.
    pub last_seen: u64,
    /// A few distinct example lines.
    pub examples: Vec<String>,
    /// Slots of templates merged into this one (their ids resolve here).
    pub aliases: Vec<u32>,
    /// How many of those aliases were counted against the layout cap.
    pub layouts: u32,
}

impl Template {
    /// A new template from the first line that produced it; `fields[i]` is
    /// the field number of `pieces[i]`.
    pub fn new(line: &str, pieces: &[Piece], fields: &[u32], multiline: bool, ts: u64) -> Template {
        let mut tokens: Vec<Box<str>> = Vec::new();
        let mut field = Vec::new();
        let mut skeleton = Vec::new();
        let mut prev_end = pieces.first().map_or(0, |p| p.start as usize);
        let mut last_var = false;
        for (p, &w) in pieces.iter().zip(fields) {
            let start = p.start as usize;
            if start > prev_end {
                skeleton.push(Seg::Lit(line[prev_end..start].into()));
            }
            // Must mirror `key::key_tokens`, which builds the matching key.
            let seg = match p.kind {
                PieceKind::Const => {
                    tokens.push(p.text(line).into());
                    field.push(w);
                    Seg::Const(tokens.len() as u32 - 1)
                }
                PieceKind::Var if !last_var => {
                    tokens.push(VAR.into());
                    field.push(w);
                    Seg::Const(tokens.len() as u32 - 1)
                }
                PieceKind::Var => Seg::Var(w),
                PieceKind::Punct => Seg::Lit(p.text(line).into()),
            };
            if p.kind != PieceKind::Punct {
                last_var = p.kind == PieceKind::Var;
            }
            skeleton.push(seg);
            prev_end = p.end as usize;
        }
        // A variable run is a variable slot: a constant there matches too.
        let wild = var_slots(&tokens);
        Template {
            tokens,
            field,
            wild,
            multiline,
            columns: ColumnSignature::default(),
            skeleton,
            count: 0,
            first_seen: ts,
            last_seen: ts,
            examples: Vec::new(),
            aliases: Vec::new(),
            layouts: 0,
        }
    }

    /// Drop everything before field `first_field` (a header learned after this
    /// template was made), rebuilding tokens exactly as a new line would get.
    pub fn rekey(&mut self, first_field: u32) {
        let mut tokens: Vec<Box<str>> = Vec::new();
        let (mut field, mut wild, mut skeleton) = (Vec::new(), Vec::new(), Vec::new());
        let mut started = false;
        let mut last_var = false;
        for seg in std::mem::take(&mut self.skeleton) {
            let (f, old) = match seg {
                Seg::Lit(_) if !started => continue,
                Seg::Lit(_) => {
                    skeleton.push(seg);
                    continue;
                }
                Seg::Const(i) => (self.field[i as usize], Some(i as usize)),
                Seg::Var(f) => (f, None),
            };
            if f < first_field {
                continue;
            }
            started = true;
            let is_var = old.is_none_or(|i| &*self.tokens[i] == VAR);
            if is_var && last_var {
                skeleton.push(Seg::Var(f));
                continue;
            }
            last_var = is_var;
            tokens.push(old.map_or_else(|| VAR.into(), |i| self.tokens[i].clone()));
            field.push(f);
            wild.push(old.is_some_and(|i| self.wild[i]));
            skeleton.push(Seg::Const(tokens.len() as u32 - 1));
        }
        let slots = var_slots(&tokens);
        self.wild = wild.iter().zip(slots).map(|(&w, v)| w || v).collect();
        self.tokens = tokens;
        self.field = field;
        self.skeleton = skeleton;
    }

    /// Number of constant positions still constant.
    pub fn constants(&self) -> usize {
        self.tokens.iter().zip(&self.wild).filter(|(_, w)| !**w).count()
    }

    /// Does a line with these constant tokens match this template?
    pub fn matches(&self, toks: &[&str], multiline: bool) -> bool {
        self.multiline == multiline
            && self.tokens.len() == toks.len()
            && self.tokens.iter().zip(&self.wild).zip(toks).all(|((t, &w), s)| w || **t == **s)
    }

    /// Token count and multi-line flag, packed; templates of different shapes
    /// never match each other.
    pub fn shape(&self) -> u64 {
        ((self.tokens.len() as u64) << 1) | u64::from(self.multiline)
    }

    /// Does this template's pattern cover `other` (same shape, equal at every
    /// position that is not a wildcard here)?
    pub fn covers(&self, other: &Template) -> bool {
        self.shape() == other.shape()
            && (0..self.tokens.len()).all(|j| self.wild[j] || (!other.wild[j] && self.tokens[j] == other.tokens[j]))
    }

    /// Record one more line.
    pub fn touch(&mut self, line: &str, ts: u64, max_examples: usize, max_bytes: usize) {
        self.count += 1;
        self.first_seen = self.first_seen.min(ts);
        self.last_seen = self.last_seen.max(ts);
        if self.examples.len() < max_examples {
            let ex = truncate(line, max_bytes);
            if !self.examples.iter().any(|e| e == ex) {
                self.examples.push(ex.to_string());
            }
        }
    }

    /// Fold `other`'s statistics into `self` (a merge).
    pub fn absorb_stats(&mut self, other: &Template, max_examples: usize) {
        self.count += other.count;
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        for e in &other.examples {
            if self.examples.len() >= max_examples {
                break;
            }
            if !self.examples.contains(e) {
                self.examples.push(e.clone());
            }
        }
    }

    /// The template text, variables as `<*>`; adjacent variables separated only
    /// by spaces collapse into one.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut pending_space = String::new();
        let mut last_var = false;
        for seg in &self.skeleton {
            let (text, is_var) = match seg {
                Seg::Lit(s) if s.chars().all(char::is_whitespace) => {
                    pending_space.push_str(s);
                    continue;
                }
                Seg::Lit(s) => (&**s, false),
                Seg::Const(i) if self.wild[*i as usize] || &*self.tokens[*i as usize] == VAR => ("<*>", true),
                Seg::Const(i) => (&*self.tokens[*i as usize], false),
                Seg::Var(_) => ("<*>", true),
            };
            if is_var && last_var {
                pending_space.clear();
                continue;
            }
            out.push_str(&pending_space);
            pending_space.clear();
            out.push_str(text);
            last_var = is_var;
        }
        if self.multiline {
            out.push_str("\n<*>");
        }
        out
    }
}

/// A variable run is a variable slot: a constant there matches too. Not in a
/// template made only of variables, which would match anything.
fn var_slots(tokens: &[Box<str>]) -> Vec<bool> {
    let has_const = tokens.iter().any(|t| &**t != VAR);
    tokens.iter().map(|t| has_const && &**t == VAR).collect()
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}
