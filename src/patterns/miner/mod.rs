//! The online miner: matching, merging by evidence, bounded eviction.
//!
//! Each line is tokenised and masked ([`crate::patterns::mask`]), its header is cut off
//! ([`crate::patterns::key`]), and its constant tokens (with `<*>` for each variable
//! run) form a key. Finding the template:
//!
//! * `cache`: exact key bytes → id. The hot path: one hash lookup per line.
//! * `patterns`: hash of a template's tokens with its wildcard positions
//!   blanked → templates. A cache miss probes it once per distinct wildcard
//!   layout in use for that token count (few).
//!
//! Nothing is ever split: a new key starts as its own template (conservative)
//! and templates merge only on evidence ([`merge`]: several values at one
//! position, equal constants in another layout, a constant glued to a
//! variable, a new wildcard covering older templates). A merged-away template
//! becomes an alias, so every id ever returned keeps resolving until its
//! template is evicted. `index` keeps the evidence indexes, `persist` the
//! optional snapshot.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::patterns::config::MinerConfig;
use crate::patterns::key::{field_start, header_end, key_tokens, learn_columns, piece_fields, ColumnSignature};
use crate::patterns::mask::{tokenize, Piece, TokenizeOptions};
use crate::patterns::template::Template;

mod index;
mod merge;
mod persist;

use index::line_hash;
pub use persist::{Snapshot, SnapshotError};

type Map<K, V> = HashMap<K, V, FixedState>;

const HASH_SEED: u64 = 0x5eed_1e55_cafe_f00d;
/// Separates tokens in cache keys. The tokeniser treats control bytes as
/// whitespace, so no token contains it and distinct token sequences give
/// distinct keys.
const KEY_SEP: u8 = 0x1f;
const KEY_MULTILINE: u8 = 0x1e;

/// Identifies a template. Stays valid after merges (it then resolves to the
/// merged template) until the template is evicted.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateId {
    slot: u32,
    gen: u32,
}

impl TemplateId {
    /// A compact integer form (unique among ids handed out by one miner).
    pub fn as_u64(self) -> u64 {
        (u64::from(self.gen) << 32) | u64::from(self.slot)
    }

    #[cfg(test)]
    pub(crate) fn for_test(slot: u32) -> TemplateId {
        TemplateId { slot, gen: 0 }
    }
}

/// A snapshot of one template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateInfo {
    /// Canonical id (the id every alias resolves to).
    pub id: TemplateId,
    /// Template text, variables as `<*>`.
    pub template: String,
    /// Lines assigned.
    pub count: u64,
    /// First timestamp (or line number).
    pub first_seen: u64,
    /// Last timestamp (or line number).
    pub last_seen: u64,
    /// Up to `max_examples` distinct example lines.
    pub examples: Vec<String>,
}

/// Counters for monitoring the miner itself.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MinerStats {
    /// Lines added.
    pub lines: u64,
    /// Lines answered by the exact-key cache.
    pub cache_hits: u64,
    /// Templates created.
    pub created: u64,
    /// Templates merged away into another.
    pub merged: u64,
    /// Templates evicted by the cap.
    pub evicted: u64,
}

#[derive(serde::Serialize, serde::Deserialize, Clone)]
enum SlotState {
    Free,
    /// Merged into the root in slot `root`; `shape` is the layout it had, still
    /// registered for matching (dropped beyond `MAX_ALIAS_LAYOUTS` per root).
    Alias {
        root: u32,
        shape: Option<Box<Template>>,
    },
    Root(Box<Template>),
}

#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct Slot {
    gen: u32,
    state: SlotState,
}

/// One wildcard layout in use for a token count, with how many templates use it.
struct MaskEntry {
    wild: Box<[u32]>,
    refs: u32,
}

/// The online template miner. See the crate docs.
pub struct Miner {
    cfg: MinerConfig,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    cache: Map<Box<[u8]>, TemplateId>,
    patterns: Map<u64, Vec<u32>>,
    masks: Map<u64, Vec<MaskEntry>>,
    siblings: Map<u64, Vec<u32>>,
    clock: u64,
    /// Learned header columns (0 = none yet).
    columns: usize,
    /// Still waiting to decide the column header.
    learning: bool,
    hasher: FixedState,
    stats: MinerStats,
    // Scratch buffers reused across lines.
    pieces: Vec<Piece>,
    key: Vec<u8>,
}

impl Miner {
    /// A miner with the given settings.
    pub fn new(cfg: MinerConfig) -> Miner {
        let learns = cfg.strip_header && cfg.header_learn_lines > 0;
        Miner {
            cfg,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            cache: Map::default(),
            patterns: Map::default(),
            masks: Map::default(),
            siblings: Map::default(),
            clock: 0,
            columns: 0,
            learning: learns,
            hasher: FixedState::with_seed(HASH_SEED),
            stats: MinerStats::default(),
            pieces: Vec::new(),
            key: Vec::new(),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &MinerConfig {
        &self.cfg
    }

    /// Assign `line` to a template; timestamps are line numbers (1, 2, …).
    pub fn add(&mut self, line: &str) -> TemplateId {
        let ts = self.clock + 1;
        self.add_at(line, ts)
    }

    /// Assign `line` to a template, recording `ts` as its time.
    ///
    /// A multi-line entry (a stack trace joined with `\n`) is one event: its
    /// template is the first line's template followed by `\n<*>`.
    pub fn add_at(&mut self, line: &str, ts: u64) -> TemplateId {
        if self.learning {
            self.maybe_learn_columns();
        }
        self.clock += 1;
        self.stats.lines += 1;
        let (first, multiline) = split_first_line(line);
        let opts = TokenizeOptions { mask_quoted: self.cfg.mask_quoted, max_bytes: self.cfg.max_line_bytes };
        tokenize(first, opts, &mut self.pieces);
        let h = self.content_start(first);
        build_key(first, &self.pieces[h..], multiline, &mut self.key);
        if let Some(&id) = self.cache.get(self.key.as_slice()) {
            if let Some(root) = self.root_slot(id) {
                self.stats.cache_hits += 1;
                self.touch(root, line, ts);
                return id;
            }
            self.cache.remove(self.key.as_slice());
        }
        self.add_slow(line, first, h, multiline, ts)
    }

    /// First piece of the message: after the header found by the rules, or
    /// after the learned header columns, whichever is later.
    fn content_start(&self, first: &str) -> usize {
        if !self.cfg.strip_header {
            return 0;
        }
        let rule = header_end(first, &self.pieces, self.cfg.header_max_fields);
        if self.columns == 0 {
            return rule;
        }
        field_start(first, &self.pieces, self.columns).map_or(rule, |c| c.max(rule))
    }

    /// After the learning window, decide the column header from the templates
    /// seen so far (once there are enough of them) and re-key them.
    fn maybe_learn_columns(&mut self) {
        if !self.learning {
            return;
        }
        let lines = self.stats.lines as usize;
        let window = self.cfg.header_learn_lines;
        if lines < window || lines % 64 != 0 {
            return;
        }
        let votes: Vec<ColumnSignature> = self
            .slots
            .iter()
            .filter_map(|s| match &s.state {
                SlotState::Root(t) => Some(t.columns),
                _ => None,
            })
            .collect();
        if votes.len() < self.cfg.header_learn_templates {
            // Too little variety to tell header from message; give up after a
            // while (the rule-based header still applies).
            self.learning = lines < window * 16;
            return;
        }
        self.learning = false;
        let cols = learn_columns(&votes, self.cfg.header_column_share);
        if cols > 0 {
            self.columns = cols;
            self.rekey_all(cols as u32);
        }
    }

    /// Rebuild every template's key without the first `cols` fields, then all
    /// indexes, then merge what became equal.
    fn rekey_all(&mut self, cols: u32) {
        for slot in &mut self.slots {
            match &mut slot.state {
                SlotState::Root(t) | SlotState::Alias { shape: Some(t), .. } => t.rekey(cols),
                _ => {}
            }
        }
        self.rebuild_indexes();
    }

    /// Recreate every index from the slots, then merge what coincides.
    fn rebuild_indexes(&mut self) {
        self.cache.clear();
        self.patterns.clear();
        self.masks.clear();
        self.siblings.clear();
        let n = self.slots.len() as u32;
        for s in 0..n {
            match self.slots[s as usize].state {
                SlotState::Root(_) => {
                    self.register_pattern(s);
                    self.register_evidence(s);
                }
                SlotState::Alias { shape: Some(_), .. } => self.register_pattern(s),
                _ => {}
            }
        }
        // Layouts that became identical first, then the evidence rules.
        for s in 0..n {
            if self.is_root(s) {
                self.merge_same_constants(s);
            }
        }
        for s in 0..n {
            self.merge_cascade(s);
        }
    }

    /// Canonical id of the template `id` now belongs to, `None` if evicted.
    pub fn resolve(&self, id: TemplateId) -> Option<TemplateId> {
        self.root_slot(id).map(|s| self.id_of(s))
    }

    /// Template text of `id` (variables as `<*>`), `None` if evicted.
    pub fn template(&self, id: TemplateId) -> Option<String> {
        self.root_slot(id).map(|s| self.root(s).render())
    }

    /// Snapshot of template `id`, `None` if evicted.
    pub fn info(&self, id: TemplateId) -> Option<TemplateInfo> {
        self.root_slot(id).map(|s| self.info_of(s))
    }

    /// Snapshots of all live templates, in slot order.
    pub fn templates(&self) -> Vec<TemplateInfo> {
        (0..self.slots.len() as u32)
            .filter(|&s| matches!(self.slots[s as usize].state, SlotState::Root(_)))
            .map(|s| self.info_of(s))
            .collect()
    }

    /// Number of live templates.
    pub fn len(&self) -> usize {
        self.live
    }

    /// No template yet.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Counters.
    pub fn stats(&self) -> MinerStats {
        self.stats
    }

    fn add_slow(&mut self, line: &str, first: &str, h: usize, multiline: bool, ts: u64) -> TemplateId {
        let pieces = std::mem::take(&mut self.pieces);
        let toks: Vec<&str> = key_tokens(first, &pieces[h..]).collect();
        let id = match self.find_match(&toks, multiline) {
            Some(root) => self.id_of(root),
            None => {
                let fields = piece_fields(first, &pieces);
                let cols = ColumnSignature::of(first, &pieces);
                self.create(first, &pieces[h..], &fields[h..], cols, multiline, ts)
            }
        };
        self.pieces = pieces;
        self.cache_insert(id);
        let root = self.root_slot(id).expect("just created or matched");
        self.touch(root, line, ts);
        id
    }

    /// Most specific live template matching these tokens, if any.
    fn find_match(&self, toks: &[&str], multiline: bool) -> Option<u32> {
        let shape = shape_of(toks.len(), multiline);
        let masks = self.masks.get(&shape)?;
        for m in masks {
            let h = line_hash(&self.hasher, shape, toks, &m.wild);
            let Some(cands) = self.patterns.get(&h) else {
                continue;
            };
            if let Some(&s) = cands.iter().find(|&&s| self.shape(s).is_some_and(|t| t.matches(toks, multiline))) {
                return self.root_slot(self.id_of(s));
            }
        }
        None
    }

    fn create(
        &mut self,
        first: &str,
        pieces: &[Piece],
        fields: &[u32],
        columns: ColumnSignature,
        multiline: bool,
        ts: u64,
    ) -> TemplateId {
        if self.live >= self.cfg.max_templates {
            self.evict_some();
        }
        let mut t = Template::new(first, pieces, fields, multiline, ts);
        t.columns = columns;
        let slot = self.alloc(SlotState::Root(Box::new(t)));
        self.live += 1;
        self.stats.created += 1;
        self.register_pattern(slot);
        self.register_evidence(slot);
        self.merge_cascade(slot);
        TemplateId { slot, gen: self.slots[slot as usize].gen }
    }

    fn cache_insert(&mut self, id: TemplateId) {
        if self.cache.len() >= self.cfg.max_cached_keys {
            // A plain reset keeps the bound without per-entry bookkeeping; the
            // cache refills from the pattern index at one slow lookup per key.
            self.cache.clear();
        }
        self.cache.insert(self.key.clone().into_boxed_slice(), id);
    }

    fn touch(&mut self, root: u32, line: &str, ts: u64) {
        let (n, b) = (self.cfg.max_examples, self.cfg.max_example_bytes);
        self.root_mut(root).touch(line, ts, n, b);
    }

    fn alloc(&mut self, state: SlotState) -> u32 {
        if let Some(s) = self.free.pop() {
            self.slots[s as usize].state = state;
            return s;
        }
        self.slots.push(Slot { gen: 0, state });
        self.slots.len() as u32 - 1
    }

    /// Free a slot; bumping the generation makes old ids for it stale.
    fn release(&mut self, s: u32) {
        let slot = &mut self.slots[s as usize];
        slot.gen = slot.gen.wrapping_add(1);
        slot.state = SlotState::Free;
        self.free.push(s);
    }

    fn root_slot(&self, id: TemplateId) -> Option<u32> {
        let slot = self.slots.get(id.slot as usize)?;
        if slot.gen != id.gen {
            return None;
        }
        match slot.state {
            SlotState::Root(_) => Some(id.slot),
            SlotState::Alias { root, .. } => Some(root),
            SlotState::Free => None,
        }
    }

    fn is_root(&self, s: u32) -> bool {
        matches!(self.slots[s as usize].state, SlotState::Root(_))
    }

    fn root(&self, s: u32) -> &Template {
        match &self.slots[s as usize].state {
            SlotState::Root(t) => t,
            _ => unreachable!("slot {s} is not a root"),
        }
    }

    /// The template layout of a root or an alias (for matching), if kept.
    fn shape(&self, s: u32) -> Option<&Template> {
        match &self.slots[s as usize].state {
            SlotState::Root(t) | SlotState::Alias { shape: Some(t), .. } => Some(t),
            _ => None,
        }
    }

    fn root_mut(&mut self, s: u32) -> &mut Template {
        match &mut self.slots[s as usize].state {
            SlotState::Root(t) => t,
            _ => unreachable!("slot {s} is not a root"),
        }
    }

    fn id_of(&self, s: u32) -> TemplateId {
        TemplateId { slot: s, gen: self.slots[s as usize].gen }
    }

    fn info_of(&self, s: u32) -> TemplateInfo {
        let t = self.root(s);
        TemplateInfo {
            id: self.id_of(s),
            template: t.render(),
            count: t.count,
            first_seen: t.first_seen,
            last_seen: t.last_seen,
            examples: t.examples.clone(),
        }
    }
}

impl Default for Miner {
    fn default() -> Self {
        Miner::new(MinerConfig::default())
    }
}

/// First line (without `\r`) and whether non-empty continuation lines follow.
fn split_first_line(line: &str) -> (&str, bool) {
    let (first, rest) = match line.find('\n') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    };
    let first = first.strip_suffix('\r').unwrap_or(first);
    (first, !rest.trim().is_empty())
}

fn build_key(line: &str, pieces: &[Piece], multiline: bool, key: &mut Vec<u8>) {
    key.clear();
    for t in key_tokens(line, pieces) {
        key.extend_from_slice(t.as_bytes());
        key.push(KEY_SEP);
    }
    if multiline {
        key.push(KEY_MULTILINE);
    }
}

fn shape_of(len: usize, multiline: bool) -> u64 {
    ((len as u64) << 1) | u64::from(multiline)
}
