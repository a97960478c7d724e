//! Growing one isolation tree into the forest's flat node arrays.

use rand::rngs::StdRng;
use rand::Rng;

use super::algorithm::{c, Node};
use super::IsolationForest;

/// Builds one tree into the forest's node arrays.
pub(super) struct TreeBuilder<'a> {
    pub(super) data: &'a [f64],
    pub(super) n_features: usize,
    pub(super) height_limit: usize,
    pub(super) rng: &'a mut StdRng,
    pub(super) forest: &'a mut IsolationForest,
    /// Scratch: (feature, min, max) of the features not constant in the current node.
    pub(super) candidates: &'a mut Vec<(usize, f64, f64)>,
}

impl TreeBuilder<'_> {
    /// Fills node `slot` with the rows `idx` at `depth`; returns the depth of the deepest leaf below.
    ///
    /// The split feature is drawn uniformly among the features not constant in the node (a constant
    /// feature cannot separate anything), the threshold uniformly in (min, max], rows with
    /// `value < threshold` go left. Both sides are therefore non-empty.
    pub(super) fn build(&mut self, slot: usize, idx: &mut [u32], depth: usize) -> usize {
        self.forest.size[slot] = idx.len() as u32;
        if idx.len() <= 1 || depth >= self.height_limit || !self.find_candidates(idx) {
            self.forest.leaf_value[slot] = depth as f64 + c(idx.len());
            return depth;
        }
        let (feature, min, max) = self.candidates[self.rng.gen_range(0..self.candidates.len())];
        let u: f64 = 1.0 - self.rng.gen::<f64>(); // (0, 1]
        let mut threshold = min + (max - min) * u;
        if threshold <= min || threshold > max {
            threshold = max; // rounding at the ends of the range
        }
        let d = self.n_features;
        let mut left = 0;
        for i in 0..idx.len() {
            if self.data[idx[i] as usize * d + feature] < threshold {
                idx.swap(i, left);
                left += 1;
            }
        }
        let child = self.forest.push_slot();
        self.forest.push_slot();
        self.forest.nodes[slot] = Node {
            threshold,
            lo: Node::f32_down(min),
            hi: Node::f32_up(max),
            feature: feature as u32,
            child: child as u32,
        };
        let (l, r) = idx.split_at_mut(left);
        let dl = self.build(child, l, depth + 1);
        let dr = self.build(child + 1, r, depth + 1);
        dl.max(dr)
    }

    /// Collects the non-constant features of the rows `idx`; false if every feature is constant.
    fn find_candidates(&mut self, idx: &[u32]) -> bool {
        self.candidates.clear();
        let d = self.n_features;
        for f in 0..d {
            let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
            for &i in idx {
                let v = self.data[i as usize * d + f];
                min = min.min(v);
                max = max.max(v);
            }
            if max > min {
                self.candidates.push((f, min, max));
            }
        }
        !self.candidates.is_empty()
    }
}
