//! The indexes behind matching and merging, and the hashes that key them.
//!
//! `patterns`/`masks` find a template for a line; `siblings` holds every
//! kind of merge evidence (sibling, loose, variant and position hashes, salted
//! apart and always re-checked against the templates).

use std::hash::{BuildHasher, Hasher};

use foldhash::fast::FixedState;

use super::merge::{absorb_variants, loose_tokens};
use super::{shape_of, Map, MaskEntry, Miner, KEY_SEP};
use crate::patterns::template::Template;

pub(super) const SIBLING_SALT: u64 = 0x9e37_79b9_7f4a_7c15;
pub(super) const LOOSE_SALT: u64 = 0xc2b2_ae3d_27d4_eb4f;
pub(super) const POSITION_SALT: u64 = 0x27d4_eb2f_1656_67c5;
pub(super) const VARIANT_SALT: u64 = 0x1656_67b1_9e37_79f9;

impl Miner {
    /// Make `slot` (root or alias with a layout) findable by its pattern.
    pub(super) fn register_pattern(&mut self, slot: u32) {
        let Some(t) = self.shape(slot) else {
            return;
        };
        let (shape, ph, wild) = pattern_keys(&self.hasher, t);
        self.patterns.entry(ph).or_default().push(slot);
        let masks = self.masks.entry(shape).or_default();
        match masks.iter_mut().find(|m| m.wild == wild) {
            Some(m) => m.refs += 1,
            None => {
                masks.push(MaskEntry { wild, refs: 1 });
                // Most specific layouts first, so matching prefers them.
                masks.sort_by_key(|m| m.wild.len());
            }
        }
    }

    pub(super) fn unregister_pattern(&mut self, slot: u32) {
        if let Some(t) = self.shape(slot) {
            let keys = pattern_keys(&self.hasher, t);
            self.remove_pattern(slot, keys);
        }
    }

    pub(super) fn remove_pattern(&mut self, slot: u32, (shape, ph, wild): (u64, u64, Box<[u32]>)) {
        remove_from(&mut self.patterns, ph, slot);
        if let Some(masks) = self.masks.get_mut(&shape) {
            if let Some(i) = masks.iter().position(|m| m.wild == wild) {
                masks[i].refs -= 1;
                if masks[i].refs == 0 {
                    masks.remove(i);
                }
            }
            if masks.is_empty() {
                self.masks.remove(&shape);
            }
        }
    }

    /// Enter a root into the merge-evidence indexes (siblings, loose shape).
    pub(super) fn register_evidence(&mut self, slot: u32) {
        for h in self.evidence_keys(slot) {
            self.siblings.entry(h).or_default().push(slot);
        }
    }

    pub(super) fn unregister_evidence(&mut self, slot: u32) {
        for h in self.evidence_keys(slot) {
            remove_from(&mut self.siblings, h, slot);
        }
    }

    /// Sibling hashes (one per constant position), the loose hash, variant
    /// hashes and position hashes of a root.
    /// They share one map: they are salted differently, and members are
    /// re-checked before any merge.
    pub(super) fn evidence_keys(&self, slot: u32) -> Vec<u64> {
        let t = self.root(slot);
        let shape = shape_of(t.tokens.len(), t.multiline);
        let mut keys: Vec<u64> = (0..t.tokens.len())
            .filter(|&i| !t.wild[i])
            .map(|i| template_hash(&self.hasher, shape, t, Some(i)))
            .collect();
        keys.push(loose_hash(&self.hasher, t));
        keys.extend((0..t.tokens.len()).filter(|&i| !t.wild[i]).map(|i| position_hash(&self.hasher, t, i)));
        for kept in absorb_variants(t) {
            keys.push(kept_hash(&self.hasher, t, &kept) ^ VARIANT_SALT);
        }
        keys
    }
}

/// Shape, pattern hash and wildcard layout of a template.
pub(super) fn pattern_keys(h: &FixedState, t: &Template) -> (u64, u64, Box<[u32]>) {
    let shape = shape_of(t.tokens.len(), t.multiline);
    let wild: Box<[u32]> = (0..t.wild.len() as u32).filter(|&i| t.wild[i as usize]).collect();
    (shape, template_hash(h, shape, t, None), wild)
}

/// Hash of line tokens with the positions in `wild` (sorted) blanked.
pub(super) fn line_hash(h: &FixedState, shape: u64, toks: &[&str], wild: &[u32]) -> u64 {
    let mut st = h.build_hasher();
    st.write_u64(shape);
    let mut w = wild.iter().peekable();
    for (i, t) in toks.iter().enumerate() {
        if w.peek() == Some(&&(i as u32)) {
            w.next();
            st.write_u8(0xff);
        } else {
            st.write(t.as_bytes());
            st.write_u8(KEY_SEP);
        }
    }
    st.finish()
}

/// Hash of a template's pattern; with `skip = Some(i)` the sibling hash that
/// leaves position `i` out (salted so it never equals a pattern hash by design).
pub(super) fn template_hash(h: &FixedState, shape: u64, t: &Template, skip: Option<usize>) -> u64 {
    let mut st = h.build_hasher();
    match skip {
        None => st.write_u64(shape),
        Some(i) => {
            st.write_u64(shape ^ SIBLING_SALT);
            st.write_usize(i);
        }
    }
    for (i, (tok, &w)) in t.tokens.iter().zip(&t.wild).enumerate() {
        if Some(i) == skip {
            st.write_u8(0xfe);
        } else if w {
            st.write_u8(0xff);
        } else {
            st.write(tok.as_bytes());
            st.write_u8(KEY_SEP);
        }
    }
    st.finish()
}

/// Pattern hash of the sub-template made of positions `kept` of `t`; equal to
/// `template_hash(.., None)` of a template with exactly those tokens.
pub(super) fn kept_hash(h: &FixedState, t: &Template, kept: &[usize]) -> u64 {
    let mut st = h.build_hasher();
    st.write_u64(shape_of(kept.len(), t.multiline));
    for &j in kept {
        if t.wild[j] {
            st.write_u8(0xff);
        } else {
            st.write(t.tokens[j].as_bytes());
            st.write_u8(KEY_SEP);
        }
    }
    st.finish()
}

/// Hash of (shape, position, token): finds roots with this constant here.
pub(super) fn position_hash(h: &FixedState, t: &Template, i: usize) -> u64 {
    let mut st = h.build_hasher();
    st.write_u64(t.shape() ^ POSITION_SALT);
    st.write_usize(i);
    st.write(t.tokens[i].as_bytes());
    st.finish()
}

/// Hash of the constants only (masked-variable runs left out, wildcards kept
/// as a marker), salted apart from pattern and sibling hashes.
pub(super) fn loose_hash(h: &FixedState, t: &Template) -> u64 {
    let mut st = h.build_hasher();
    st.write_u64(LOOSE_SALT ^ u64::from(t.multiline));
    for tok in loose_tokens(t) {
        st.write(tok.as_bytes());
        st.write_u8(KEY_SEP);
    }
    st.finish()
}

pub(super) fn remove_from(map: &mut Map<u64, Vec<u32>>, key: u64, slot: u32) {
    if let Some(v) = map.get_mut(&key) {
        v.retain(|&s| s != slot);
        if v.is_empty() {
            map.remove(&key);
        }
    }
}
