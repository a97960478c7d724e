//! The serialized form of an [`IsolationForest`] (struct of arrays, compact in JSON) and its
//! validation on load, so that a corrupt `models.json` is an error, never a panic while scoring.

use serde::{Deserialize, Serialize};

use super::algorithm::{c, Node};
use super::{ForestError, IsolationForest};

/// `feature` value marking a leaf.
const LEAF: u32 = u32::MAX;
/// Deepest tree accepted on load (a sample of 2^20 rows has height limit 20).
const MAX_DEPTH: u32 = 64;

/// Serialized isolation forest. Nodes of all trees, indexed alike in each array.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForestRepr {
    n_features: usize,
    sample_size: usize,
    /// Range-aware scoring.
    range_aware: bool,
    /// Per tree: root node index.
    roots: Vec<u32>,
    /// Per node: split feature, or 4294967295 for a leaf.
    feature: Vec<u32>,
    /// Per node: split threshold (internal) or path length `depth + c(size)` (leaf).
    value: Vec<f64>,
    /// Per node: index of the left child (the right one follows it); 0 for a leaf.
    child: Vec<u32>,
    /// Per node: training rows that reached it.
    size: Vec<u32>,
    /// Per node: lowest value of the split feature among the node's training rows (leaf: 0).
    lo: Vec<f64>,
    /// Per node: highest value of the split feature among the node's training rows (leaf: 0).
    hi: Vec<f64>,
}

impl From<IsolationForest> for ForestRepr {
    fn from(f: IsolationForest) -> Self {
        let leaf = |(i, n): (usize, &Node)| n.child as usize == i;
        ForestRepr {
            n_features: f.n_features,
            sample_size: f.sample_size,
            range_aware: f.range_aware,
            roots: f.roots,
            feature: f.nodes.iter().enumerate().map(|(i, n)| if leaf((i, n)) { LEAF } else { n.feature }).collect(),
            value: f
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| if leaf((i, n)) { f.leaf_value[i] } else { n.threshold })
                .collect(),
            child: f.nodes.iter().enumerate().map(|(i, n)| if leaf((i, n)) { 0 } else { n.child }).collect(),
            lo: f.nodes.iter().enumerate().map(|(i, n)| if leaf((i, n)) { 0.0 } else { f64::from(n.lo) }).collect(),
            hi: f.nodes.iter().enumerate().map(|(i, n)| if leaf((i, n)) { 0.0 } else { f64::from(n.hi) }).collect(),
            size: f.size,
        }
    }
}

impl TryFrom<ForestRepr> for IsolationForest {
    type Error = ForestError;

    fn try_from(r: ForestRepr) -> Result<Self, ForestError> {
        let bad = |m: String| Err(ForestError::InvalidModel(m));
        let len = r.feature.len();
        if [r.value.len(), r.child.len(), r.size.len(), r.lo.len(), r.hi.len()].iter().any(|&l| l != len) {
            return bad("node arrays differ in length".into());
        }
        if r.n_features == 0 || r.n_features >= LEAF as usize || r.sample_size == 0 || r.roots.is_empty() {
            return bad("no features, no sample or no trees".into());
        }
        let mut nodes = Vec::with_capacity(len);
        let mut leaf_value = Vec::with_capacity(len);
        for i in 0..len {
            let (feature, value, child) = (r.feature[i], r.value[i], r.child[i] as usize);
            if !value.is_finite() {
                return bad(format!("node {i} has a non-finite value"));
            }
            if feature == LEAF {
                nodes.push(Node::leaf(i));
                leaf_value.push(value);
            } else {
                if feature as usize >= r.n_features || child <= i || child + 1 >= len {
                    return bad(format!("node {i} has an out-of-range feature or child"));
                }
                // Written from f32 values, so the conversion back is exact.
                let (lo, hi) = (r.lo[i] as f32, r.hi[i] as f32);
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return bad(format!("node {i} has an empty or non-finite range"));
                }
                nodes.push(Node { threshold: value, lo, hi, feature, child: child as u32 });
                leaf_value.push(0.0);
            }
        }
        // Every node belongs to exactly one tree; children come after parents, so no cycles.
        let mut seen = vec![false; len];
        let mut depths = Vec::with_capacity(r.roots.len());
        let mut stack = Vec::new();
        for &root in &r.roots {
            let mut depth = 0;
            stack.push((root as usize, 0u32));
            while let Some((i, d)) = stack.pop() {
                if i >= len || std::mem::replace(&mut seen[i], true) || d > MAX_DEPTH {
                    return bad(format!("node {i} is shared, missing or too deep"));
                }
                depth = depth.max(d);
                if nodes[i].child as usize != i {
                    stack.push((nodes[i].child as usize, d + 1));
                    stack.push((nodes[i].child as usize + 1, d + 1));
                }
            }
            depths.push(depth);
        }
        Ok(IsolationForest {
            n_features: r.n_features,
            sample_size: r.sample_size,
            c_norm: c(r.sample_size),
            range_aware: r.range_aware,
            nodes,
            leaf_value,
            size: r.size,
            roots: r.roots,
            depths,
        })
    }
}
