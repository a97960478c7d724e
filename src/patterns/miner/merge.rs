//! Merge rules (evidence that tokens are variables) and eviction.

use super::index::{kept_hash, loose_hash, pattern_keys, position_hash, template_hash, VARIANT_SALT};
use super::{shape_of, Miner, SlotState};
use crate::patterns::key::VAR;
use crate::patterns::template::Template;

const MAX_COVER_SCAN: usize = 4096;
/// Alias layouts kept registered per root; older ids beyond it still resolve.
const MAX_ALIAS_LAYOUTS: u32 = 32;

impl Miner {
    /// Merge while evidence allows, starting from a new or changed root.
    pub(super) fn merge_cascade(&mut self, start: u32) {
        let mut work = vec![start];
        while let Some(s) = work.pop() {
            if !self.is_root(s) {
                continue;
            }
            if let Some(target) = self.merge_same_constants(s) {
                work.push(target);
                continue;
            }
            if let Some(target) = self.merge_absorbed_neighbour(s) {
                work.push(target);
                continue;
            }
            if self.root(s).wild.iter().any(|&w| w) {
                self.absorb_covered(s);
            }
            let n = self.root(s).tokens.len();
            for i in 0..n {
                if self.root(s).wild[i] {
                    continue;
                }
                let members = self.sibling_members(s, i);
                if self.should_merge(&members, i) {
                    let target = self.merge(&members, Some(i));
                    self.absorb_covered(target);
                    work.push(target);
                    break;
                }
            }
        }
    }

    /// Roots that agree with `s` everywhere but position `i` (including `s`).
    pub(super) fn sibling_members(&self, s: u32, i: usize) -> Vec<u32> {
        let t = self.root(s);
        let shape = shape_of(t.tokens.len(), t.multiline);
        let h = template_hash(&self.hasher, shape, t, Some(i));
        let Some(set) = self.siblings.get(&h) else {
            return vec![s];
        };
        set.iter().copied().filter(|&m| m == s || self.is_root(m) && agree_except(t, self.root(m), Some(i))).collect()
    }

    /// Other roots with the same constants in the same order, differing only in
    /// where (or whether) masked variables occur: `bytes sent` and
    /// `bytes (18.4 KB) sent` are one event. Exact duplicates (which merges can
    /// produce) are the special case of identical layouts.
    pub(super) fn merge_same_constants(&mut self, s: u32) -> Option<u32> {
        let t = self.root(s);
        let h = loose_hash(&self.hasher, t);
        let members: Vec<u32> = self
            .siblings
            .get(&h)?
            .iter()
            .copied()
            .filter(|&m| m == s || self.is_root(m) && same_constants(t, self.root(m)))
            .collect();
        (members.len() > 1).then(|| self.merge(&members, None))
    }

    /// `synchronized to LOCAL(0)` vs `synchronized to 10.0.0.1`: a constant
    /// glued to a variable run, where dropping it gives an existing template,
    /// is part of the variable. Checked both ways: the longer template looks
    /// up its variants, the shorter one is found through the variants index.
    pub(super) fn merge_absorbed_neighbour(&mut self, s: u32) -> Option<u32> {
        let t = self.root(s);
        for kept in absorb_variants(t) {
            let h = kept_hash(&self.hasher, t, &kept);
            let found = self
                .patterns
                .get(&h)
                .and_then(|c| c.iter().copied().find(|&u| self.shape(u).is_some_and(|x| is_variant(t, &kept, x))));
            if let Some(u) = found.and_then(|u| self.root_slot(self.id_of(u))) {
                if u != s {
                    return Some(self.merge(&[s, u], None));
                }
            }
        }
        let own = template_hash(&self.hasher, t.shape(), t, None) ^ VARIANT_SALT;
        let longer = self.siblings.get(&own)?.iter().copied().find(|&m| {
            m != s
                && self.is_root(m)
                && absorb_variants(self.root(m)).iter().any(|kept| is_variant(self.root(m), kept, t))
        })?;
        Some(self.merge(&[s, longer], None))
    }

    pub(super) fn should_merge(&self, members: &[u32], i: usize) -> bool {
        if members.len() < 2 {
            return false;
        }
        let t = self.root(members[0]);
        let n = t.tokens.len();
        let consts_after = t.constants() - 1;
        if consts_after < self.cfg.min_constants || (n - consts_after) as f64 > self.cfg.max_variable_ratio * n as f64 {
            return false;
        }
        // A masked variable among the values is direct evidence: the same slot
        // held a number (or address…) in another line.
        // Distinct values, not members: duplicates (e.g. right after a
        // re-key) are not evidence.
        let mut values: Vec<&str> = members.iter().map(|&m| &*self.root(m).tokens[i]).collect();
        values.sort_unstable();
        values.dedup();
        values.len() >= self.cfg.merge_min_values
            || values.contains(&VAR)
            || (self.cfg.merge_identifier_pairs
                && members.iter().all(|&m| looks_like_identifier(&self.root(m).tokens[i])))
    }

    /// Merge `members` into the most frequent one; wildcard position `pos`.
    ///
    /// The others become aliases that keep their own pattern registered, so
    /// lines of their exact layout keep finding the merged template.
    pub(super) fn merge(&mut self, members: &[u32], pos: Option<usize>) -> u32 {
        let target = *members
            .iter()
            .max_by_key(|&&m| {
                let t = self.root(m);
                (t.count, std::cmp::Reverse(t.first_seen))
            })
            .expect("non-empty");
        for &m in members {
            self.unregister_evidence(m);
        }
        for &m in members.iter().filter(|&&m| m != target) {
            self.absorb(target, m);
        }
        if let Some(i) = pos {
            self.unregister_pattern(target);
            self.root_mut(target).wild[i] = true;
            self.register_pattern(target);
        }
        self.register_evidence(target);
        target
    }

    /// After `target` gained a wildcard, older roots that its pattern now
    /// covers (they differ only at wildcard positions) are absorbed: they were
    /// created before the evidence existed.
    pub(super) fn absorb_covered(&mut self, target: u32) {
        let t = self.root(target);
        // Covered roots share every constant of `target`; the first one is
        // enough to find them through the position index.
        let Some(p) = (0..t.tokens.len()).find(|&i| !t.wild[i]) else {
            return;
        };
        let Some(cands) = self.siblings.get(&position_hash(&self.hasher, t, p)) else {
            return;
        };
        // Bounded scan: a huge bucket only costs missed merges, not time.
        let covered: Vec<u32> = cands
            .iter()
            .take(MAX_COVER_SCAN)
            .copied()
            .filter(|&m| m != target && self.is_root(m) && t.covers(self.root(m)))
            .collect();
        if covered.is_empty() {
            return;
        }
        self.unregister_evidence(target);
        for m in covered {
            self.unregister_evidence(m);
            self.absorb(target, m);
        }
        self.register_evidence(target);
    }

    /// Turn root `victim` into an alias of `target`, moving its statistics.
    pub(super) fn absorb(&mut self, target: u32, victim: u32) {
        let SlotState::Root(mut v) = std::mem::replace(&mut self.slots[victim as usize].state, SlotState::Free) else {
            unreachable!("absorb of a non-root")
        };
        for &a in &v.aliases {
            if let SlotState::Alias { root, .. } = &mut self.slots[a as usize].state {
                *root = target;
            }
        }
        let max_ex = self.cfg.max_examples;
        let moved_aliases = std::mem::take(&mut v.aliases);
        let t = self.root_mut(target);
        t.absorb_stats(&v, max_ex);
        t.aliases.push(victim);
        t.aliases.extend_from_slice(&moved_aliases);
        t.layouts += v.layouts + 1;
        let keep_layout = t.layouts <= MAX_ALIAS_LAYOUTS;
        // An alias keeps what matching and re-keying need; past the cap only
        // the id mapping survives (a few bytes), so per-template state stays
        // bounded while every id still resolves.
        let shape = if keep_layout {
            v.examples = Vec::new();
            Some(v)
        } else {
            let keys = pattern_keys(&self.hasher, &v);
            self.remove_pattern(victim, keys);
            None
        };
        self.slots[victim as usize].state = SlotState::Alias { root: target, shape };
        self.live -= 1;
        self.stats.merged += 1;
    }

    /// Evict the least recently seen sixteenth of the templates (at least one),
    /// so the O(n) selection is amortised over many insertions.
    pub(super) fn evict_some(&mut self) {
        let mut roots: Vec<(u64, u64, u32)> = (0..self.slots.len() as u32)
            .filter(|&s| self.is_root(s))
            .map(|s| {
                let t = self.root(s);
                (t.last_seen, t.count, s)
            })
            .collect();
        let k = (self.cfg.max_templates / 16).clamp(1, roots.len());
        roots.select_nth_unstable(k - 1);
        for &(_, _, s) in &roots[..k] {
            self.evict(s);
        }
    }

    pub(super) fn evict(&mut self, slot: u32) {
        self.unregister_evidence(slot);
        let aliases = std::mem::take(&mut self.root_mut(slot).aliases);
        for s in aliases.into_iter().chain(std::iter::once(slot)) {
            self.unregister_pattern(s);
            self.release(s);
        }
        self.live -= 1;
        self.stats.evicted += 1;
    }
}

/// Positions kept when one constant next to a variable run is dropped (and the
/// two runs it separated, if any, become one). One entry per such constant.
pub(super) fn absorb_variants(t: &Template) -> Vec<Vec<usize>> {
    let n = t.tokens.len();
    // A neighbouring variable run in the same whitespace word (`LOCAL(0)`).
    let glued_var = |i: usize, j: usize| &*t.tokens[j] == VAR && t.field[j] == t.field[i];
    let mut out = Vec::new();
    for i in 0..n {
        if t.wild[i] {
            continue;
        }
        let left = i > 0 && glued_var(i, i - 1);
        let right = i + 1 < n && glued_var(i, i + 1);
        // Keep at least one real constant, or the variant matches anything.
        let others_const = (0..n).any(|j| j != i && !t.wild[j] && &*t.tokens[j] != VAR);
        if !(left || right) || !others_const {
            continue;
        }
        // Dropping a constant between two variable runs joins them.
        let skip_next = i > 0 && &*t.tokens[i - 1] == VAR && i + 1 < n && &*t.tokens[i + 1] == VAR;
        out.push((0..n).filter(|&j| j != i && !(skip_next && j == i + 1)).collect());
    }
    out
}

/// Is `u` exactly the positions `kept` of `t`?
pub(super) fn is_variant(t: &Template, kept: &[usize], u: &Template) -> bool {
    u.multiline == t.multiline
        && u.tokens.len() == kept.len()
        && kept.iter().enumerate().all(|(k, &j)| u.wild[k] == t.wild[j] && (u.wild[k] || u.tokens[k] == t.tokens[j]))
}

/// Same shape, same wildcards, same tokens except at `skip`.
pub(super) fn agree_except(a: &Template, b: &Template, skip: Option<usize>) -> bool {
    a.multiline == b.multiline
        && a.tokens.len() == b.tokens.len()
        && a.wild == b.wild
        && (0..a.tokens.len()).all(|i| Some(i) == skip || a.wild[i] || a.tokens[i] == b.tokens[i])
}

/// Same constants (and wildcards) in the same order, ignoring variable runs.
pub(super) fn same_constants(a: &Template, b: &Template) -> bool {
    a.multiline == b.multiline && loose_tokens(a).eq(loose_tokens(b))
}

pub(super) fn loose_tokens(t: &Template) -> impl Iterator<Item = &str> + '_ {
    t.tokens.iter().zip(&t.wild).filter(|(tok, _)| &***tok != VAR).map(|(tok, &w)| if w { "\u{1}" } else { &**tok })
}

/// Identifier-like words (`Step_LSC`, `com.foo.Bar`, `camelCase`) vary more
/// often than plain words, so two of them already count as evidence.
pub(super) fn looks_like_identifier(tok: &str) -> bool {
    let b = tok.as_bytes();
    let inner = b.len() > 2 && b[1..b.len() - 1].iter().any(|c| b"._-:$#@".contains(c));
    let camel = b.windows(2).skip(1).any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
    inner || camel
}
