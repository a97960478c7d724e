//! [`IsolationForest`]: fitting, scoring and explanation.
//!
//! Layout: every tree's nodes live in one flat `Vec<Node>` (24 bytes each). An internal node's two
//! children are adjacent (`child`, `child + 1`), so the step down is branch-free:
//! `i = child + (x[feature] >= threshold)`. A leaf points to itself with threshold `+inf`, so a walk
//! of a tree's full depth stays on its leaf once it gets there. Scoring therefore runs a fixed number
//! of steps per tree (the classic walk has no unpredictable branch), [`LANES`] trees in lockstep, and
//! adds the leaf's
//! precomputed path length `depth + c(size)` — the classic early-terminated path length with the
//! c(n) correction.
//!
//! Range-aware scoring (on by default, [`range_aware`](super::IsolationForestParams::range_aware)):
//! a classic tree never saw a value beyond its sample's range, so a point 50σ out follows the path
//! of the most extreme training point and scores no higher than it: scores saturate at the edge of
//! the data. Each internal node also keeps `[lo, hi]`, the range of its split feature over the
//! training points that reached it. When `x[f]` lies outside it by `out`, a split drawn uniformly over
//! the range including `x` would have cut `x` off with probability `q = out / (out + hi - lo)`; the
//! walk then ends there (depth + 1) with probability `q` and goes on with `1 - q`. Points inside every
//! range (all of the tree's own sample) get exactly the classic path length.

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::grow::TreeBuilder;
use super::serde_repr::ForestRepr;
use super::{ForestError, IsolationForestValidParams, OutlierModel};

/// Trees walked in lockstep when scoring: their walks are independent, so the CPU overlaps the
/// load → compare → index chains instead of waiting on one tree's chain at a time.
const LANES: usize = 8;

/// Vectors of at most this many features are scored from a fixed-size copy.
const SMALL: usize = 8;

/// Euler–Mascheroni constant, for the harmonic number approximation H(i) ≈ ln(i) + γ.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Average path length of an unsuccessful search in a binary search tree of `n` points (Liu et al.):
/// the expected depth still to go when `n` points remain unseparated.
pub(super) fn c(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// Probability that a split drawn uniformly over a range of width `span`, widened by `out` to
/// reach `x`, falls in the gap and cuts `x` off: out / (out + span), scaled against overflow.
#[inline(always)]
pub(super) fn cut_off_probability(out: f64, span: f64) -> f64 {
    let m = out.max(span);
    (out / m) / (out / m + span / m)
}

/// One node of a tree (24 bytes). Internal: children at `child` (x < threshold) and `child + 1`;
/// `[lo, hi]` is the range of the split feature over the node's training rows, rounded outwards to
/// f32 (it only weighs range-aware cut-offs, and keeping it small keeps the walk in cache).
/// Leaf: `child` is the node's own index, `threshold` is `+inf` and `[lo, hi]` is `[-inf, +inf]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Node {
    pub(super) threshold: f64,
    pub(super) lo: f32,
    pub(super) hi: f32,
    pub(super) feature: u32,
    pub(super) child: u32,
}

impl Node {
    /// A leaf at index `i`.
    pub(super) fn leaf(i: usize) -> Node {
        Node { threshold: f64::INFINITY, lo: f32::NEG_INFINITY, hi: f32::INFINITY, feature: 0, child: i as u32 }
    }

    /// `v` rounded to an f32 not above it.
    pub(super) fn f32_down(v: f64) -> f32 {
        let r = v as f32;
        if f64::from(r) <= v {
            r
        } else if r > 0.0 {
            f32::from_bits(r.to_bits() - 1)
        } else if r == 0.0 {
            -f32::from_bits(1)
        } else {
            f32::from_bits(r.to_bits() + 1)
        }
    }

    /// `v` rounded to an f32 not below it.
    pub(super) fn f32_up(v: f64) -> f32 {
        -Self::f32_down(-v)
    }
}

/// A fitted isolation forest. Serializes to a compact struct-of-arrays form (for `models.json`);
/// deserializing validates it, and a reloaded forest scores bit-identically (with serde_json's
/// `float_roundtrip`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ForestRepr", into = "ForestRepr")]
pub struct IsolationForest {
    pub(super) n_features: usize,
    /// Rows each tree was built from (min of the configured sample size and the training rows).
    pub(super) sample_size: usize,
    /// c(sample_size), the score's normaliser.
    pub(super) c_norm: f64,
    /// Whether scoring accounts for values outside a node's training range (see the module docs).
    pub(super) range_aware: bool,
    pub(super) nodes: Vec<Node>,
    /// Per node: for a leaf, its path length `depth + c(size)`; 0 for internal nodes.
    pub(super) leaf_value: Vec<f64>,
    /// Per node: training rows that reached it.
    pub(super) size: Vec<u32>,
    /// Per tree: index of its root node.
    pub(super) roots: Vec<u32>,
    /// Per tree: depth of its deepest leaf (steps of a scoring walk).
    pub(super) depths: Vec<u32>,
}

impl IsolationForest {
    /// Builds the forest from a validated row-major buffer (`n_rows × n_features`, all finite).
    pub(super) fn fit_flat(
        params: &IsolationForestValidParams,
        data: &[f64],
        n_rows: usize,
        n_features: usize,
    ) -> Result<Self, ForestError> {
        if n_rows == 0 {
            return Err(ForestError::Empty);
        }
        if n_features == 0 {
            return Err(ForestError::NoFeatures);
        }
        if n_rows > u32::MAX as usize || n_features >= u32::MAX as usize {
            return Err(ForestError::InvalidParams { name: "rows", problem: "too many rows or features".into() });
        }
        let mut rng = match params.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let psi = params.sample_size.min(n_rows);
        let height_limit = (psi as f64).log2().ceil() as usize;
        let capacity = params.trees * 2 * psi;
        let mut forest = IsolationForest {
            n_features,
            sample_size: psi,
            c_norm: c(psi),
            range_aware: params.range_aware,
            nodes: Vec::with_capacity(capacity),
            leaf_value: Vec::with_capacity(capacity),
            size: Vec::with_capacity(capacity),
            roots: Vec::with_capacity(params.trees),
            depths: Vec::with_capacity(params.trees),
        };
        let mut candidates = Vec::with_capacity(n_features);
        for _ in 0..params.trees {
            let mut sample: Vec<u32> =
                rand::seq::index::sample(&mut rng, n_rows, psi).into_iter().map(|i| i as u32).collect();
            let root = forest.push_slot();
            let depth = TreeBuilder {
                data,
                n_features,
                height_limit,
                rng: &mut rng,
                forest: &mut forest,
                candidates: &mut candidates,
            }
            .build(root, &mut sample, 0);
            forest.roots.push(root as u32);
            forest.depths.push(depth as u32);
        }
        Ok(forest)
    }

    /// Appends a leaf-shaped node (the builder turns it into a split if needed).
    pub(super) fn push_slot(&mut self) -> usize {
        let i = self.nodes.len();
        self.nodes.push(Node::leaf(i));
        self.leaf_value.push(0.0);
        self.size.push(0);
        i
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Rows each tree was built from (the configured sample size, or fewer on a small training set).
    pub fn sample_size(&self) -> usize {
        self.sample_size
    }

    /// Whether scoring is range-aware (see the module docs).
    pub fn is_range_aware(&self) -> bool {
        self.range_aware
    }

    /// Average (expected) path length E[h(x)] of `x` over the trees (shorter = more isolated). NaN
    /// for a vector of the wrong length; 0 if any value is NaN or infinite (it isolates immediately).
    pub fn average_path_length(&self, x: &[f64]) -> f64 {
        if x.len() != self.n_features {
            return f64::NAN;
        }
        if x.iter().any(|v| !v.is_finite()) {
            return 0.0;
        }
        self.path_length_sum(x) / self.roots.len() as f64
    }

    /// Sum over the trees of the path length of `x` (finite, right length: checked by callers).
    #[inline]
    fn path_length_sum(&self, x: &[f64]) -> f64 {
        if x.len() <= SMALL {
            // A fixed-size copy indexed modulo SMALL: no bounds check in the hot loop (features are
            // validated < n_features at fit and load, so the modulo never changes an index).
            let mut buf = [0.0; SMALL];
            buf[..x.len()].copy_from_slice(x);
            self.sum_trees(|f| buf[f as usize % SMALL])
        } else {
            self.sum_trees(|f| x[f as usize])
        }
    }

    /// Sum of the path lengths over all trees, with `get(feature)` reading the scored vector.
    #[inline(always)]
    fn sum_trees(&self, get: impl Fn(u32) -> f64 + Copy) -> f64 {
        let roots = self.roots.chunks_exact(LANES);
        let depths = self.depths.chunks_exact(LANES);
        let rest = roots.remainder().iter().zip(depths.remainder());
        let mut total = 0.0;
        for (roots, depths) in roots.zip(depths) {
            let depth = depths.iter().copied().max().unwrap_or(0);
            let roots: &[u32; LANES] = roots.try_into().expect("chunks_exact yields LANES roots");
            total += if self.range_aware { self.walk_ranged(get, roots, depth) } else { self.walk(get, roots, depth) };
        }
        for (root, &depth) in rest {
            let root = std::slice::from_ref(root).try_into().expect("one root");
            total += if self.range_aware {
                self.walk_ranged::<1>(get, root, depth)
            } else {
                self.walk::<1>(get, root, depth)
            };
        }
        total
    }

    /// Classic path lengths of `x` in `L` trees, summed.
    #[inline(always)]
    fn walk<const L: usize>(&self, x: impl Fn(u32) -> f64, roots: &[u32; L], depth: u32) -> f64 {
        let mut idx: [usize; L] = std::array::from_fn(|k| roots[k] as usize);
        for _ in 0..depth {
            for i in &mut idx {
                let n = self.nodes[*i];
                *i = n.child as usize + usize::from(x(n.feature) >= n.threshold);
            }
        }
        idx.iter().map(|&i| self.leaf_value[i]).sum()
    }

    /// Range-aware expected path lengths of `x` in `L` trees, summed (see the module docs).
    #[inline(always)]
    fn walk_ranged<const L: usize>(&self, x: impl Fn(u32) -> f64, roots: &[u32; L], depth: u32) -> f64 {
        let mut idx: [usize; L] = std::array::from_fn(|k| roots[k] as usize);
        let mut stay = [1.0f64; L]; // probability of not having been cut off yet
        let mut early = [0.0f64; L]; // expected path length of the walks cut off so far
        for step in 0..depth {
            for k in 0..L {
                let n = self.nodes[idx[k]];
                let v = x(n.feature);
                let (lo, hi) = (f64::from(n.lo), f64::from(n.hi));
                let out = (lo - v).max(v - hi); // leaves: -inf
                if out > 0.0 {
                    // A minority of steps for normal points: cheaper than a division on every step.
                    let q = cut_off_probability(out, hi - lo);
                    early[k] += stay[k] * q * f64::from(step + 1);
                    stay[k] *= 1.0 - q;
                }
                idx[k] = n.child as usize + usize::from(v >= n.threshold);
            }
        }
        (0..L).map(|k| early[k] + stay[k] * self.leaf_value[idx[k]]).sum()
    }

    /// Which features drove the isolation of `x`: one share per feature, summing to 1.
    ///
    /// Method (path-length attribution): when a split on `x`'s path leaves `x` with `m` of the `n`
    /// training points that reached the node, the expected remaining path drops from c(n) to
    /// 1 + c(m); the split's feature is credited with the gain c(n) − 1 − c(m) (negative when `x`
    /// stays with the crowd). Range-aware forests add, at a node where `x` is cut off with
    /// probability q, q × the remaining expected path it saves. Along a path the credits add up to
    /// c(ψ) − h(x), exactly how much shorter `x`'s path is than a typical point's, so they decompose
    /// the score. Credits are summed per feature over all trees, negative totals clipped to 0, and
    /// normalised. When no feature shortened the path (a normal point), every feature gets an equal
    /// share. Non-finite values isolate immediately: they share all the credit. Returns an empty
    /// vector for a vector of the wrong length.
    pub fn explain(&self, x: &[f64]) -> Vec<f64> {
        let d = self.n_features;
        if x.len() != d {
            return Vec::new();
        }
        let mut gains = vec![0.0; d];
        if x.iter().any(|v| !v.is_finite()) {
            for (g, v) in gains.iter_mut().zip(x) {
                *g = if v.is_finite() { 0.0 } else { 1.0 };
            }
        } else {
            let mut path = Vec::new(); // (feature, classic gain, q) per split on the path
            for &root in &self.roots {
                path.clear();
                let mut i = root as usize;
                while self.nodes[i].child as usize != i {
                    let n = self.nodes[i];
                    let (lo, hi) = (f64::from(n.lo), f64::from(n.hi));
                    let v = x[n.feature as usize];
                    let next = n.child as usize + usize::from(v >= n.threshold);
                    let gain = c(self.size[i] as usize) - 1.0 - c(self.size[next] as usize);
                    let out = (lo - v).max(v - hi);
                    let q = if self.range_aware && out > 0.0 { cut_off_probability(out, hi - lo) } else { 0.0 };
                    path.push((n.feature as usize, gain, q));
                    i = next;
                }
                // Backwards: remaining expected path after each split, R_k = 1 + (1 − q_k) R_{k+1}.
                let mut remaining = c(self.size[i] as usize);
                for &(f, gain, q) in path.iter().rev() {
                    gains[f] += gain + q * remaining;
                    remaining = 1.0 + (1.0 - q) * remaining;
                }
            }
            for g in &mut gains {
                *g = g.max(0.0);
            }
        }
        let total: f64 = gains.iter().sum();
        if total > 0.0 {
            gains.iter_mut().for_each(|g| *g /= total);
        } else {
            gains.iter_mut().for_each(|g| *g = 1.0 / d as f64);
        }
        gains
    }
}

impl OutlierModel for IsolationForest {
    /// 2^(−E[h(x)]/c(ψ)). NaN for a vector of the wrong length; 1 if any value is NaN or infinite
    /// (treated as isolated at the root). A forest trained on a single row has no information and
    /// scores everything 0.5.
    fn score(&self, x: &[f64]) -> f64 {
        if x.len() != self.n_features {
            return f64::NAN;
        }
        if x.iter().any(|v| !v.is_finite()) {
            return 1.0;
        }
        if self.c_norm <= 0.0 {
            return 0.5;
        }
        let mean = self.path_length_sum(x) / self.roots.len() as f64;
        (-mean / self.c_norm).exp2()
    }

    fn n_features(&self) -> usize {
        self.n_features
    }
}
