//! Online Half-Space Trees (Tan, Ting & Liu 2011), following River's `anomaly.HalfSpaceTrees`.
//!
//! Each tree is a complete binary tree of random axis-aligned splits over the unit cube. Every
//! node counts how many points of the *latest* window passed through it (`l_mass`); every
//! `window_size` points the latest window becomes the *reference* window (`r_mass`) and counting
//! restarts. A point's score sums `r_mass · 2^depth` down its path (stopping below nodes whose
//! reference mass is under 10% of the window, as River does), normalised by the largest possible
//! sum and flipped, so 1 is most anomalous and 0 most ordinary.
//!
//! Features are sparse: some one-hot groups (e.g. service, operation) plus one continuous value in
//! [0, 1]. A point is the active dimension of each group and the value, so a branch on a one-hot
//! dimension is one integer comparison. Trees are flat arrays in heap order (children of `i` at
//! `2i + 1`, `2i + 2`); scoring and learning walk a path once, with no allocation.
//!
//! One departure from River, for one-hot data: when planting, a path that has already split on a
//! one-hot dimension does not split on it again (both sides of a second split would be identical),
//! and below its "is 1" side the rest of that group is excluded too (they are all 0 there). Those
//! splits are spent on the other features instead, mostly the duration. See docs/sample.md.

use crate::core::rng::Rng;

/// Marks the continuous feature in [`Point`] / node feature ids.
pub const CONTINUOUS: u32 = u32::MAX;

/// How the planter weighs one-hot dimensions against the continuous feature when picking a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SplitWeight {
    /// River's rule: every dimension by its range width, so a group of k categories weighs k.
    #[default]
    Dimension,
    /// A one-hot group weighs 1 in total (it is one categorical variable), shared by its
    /// dimensions still open on the path; the continuous feature weighs its range width.
    Group,
    /// Only the continuous feature is split (one-hot groups weigh 0): with a per-operation
    /// duration (`op-log`) the operation is already in the value, and one-hot splits would only
    /// thin the mass of rare operations into false alarms. `scale sample`'s default.
    Duration,
}

impl SplitWeight {
    /// The names as flags and config values spell them.
    pub const NAMES: [&str; 3] = ["dimension", "group", "duration"];

    /// Parses one of [`Self::NAMES`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dimension" => Some(SplitWeight::Dimension),
            "group" => Some(SplitWeight::Group),
            "duration" => Some(SplitWeight::Duration),
            _ => None,
        }
    }
}

/// Tree parameters. Defaults match River's (`n_trees=10, height=8, window_size=250`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HstParams {
    /// Trees in the forest (at least 1); the score averages over them.
    pub n_trees: usize,
    /// Depth of each tree, 1..=20: a tree has `2^(height+1) − 1` nodes.
    pub height: usize,
    /// Points per window (at least 1): the latest window becomes the reference this often.
    pub window_size: usize,
    /// Seed of the random splits: same seed and data, same forest and scores.
    pub seed: u64,
    /// How one-hot dimensions are weighed against the continuous feature when planting.
    pub split_weight: SplitWeight,
}

impl Default for HstParams {
    fn default() -> Self {
        HstParams {
            n_trees: 10,
            height: 8,
            window_size: 250,
            seed: 42,
            split_weight: SplitWeight::Dimension,
        }
    }
}

impl HstParams {
    /// Why the parameters cannot build a forest, naming the parameter.
    pub fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        if self.n_trees == 0 {
            return Err(("n_trees", "must be at least 1".into()));
        }
        if !(1..=20).contains(&self.height) {
            return Err(("height", format!("must be 1..=20, got {}", self.height)));
        }
        if self.window_size == 0 {
            return Err(("window_size", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// One observation: the active dimension of each one-hot group (`None` when the value has no
/// dimension, e.g. it was first seen after planting) and the continuous value, clipped to [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point<const G: usize> {
    /// Per one-hot group, its active dimension, numbered across all groups as in
    /// [`HalfSpaceTrees::new`]; `None` when it has none.
    pub active: [Option<u32>; G],
    /// The continuous feature; values outside [0, 1] are clipped.
    pub value: f32,
}

/// Key bit of a split on a one-hot dimension: a node's walk key is `ONE_HOT | d` for a split on
/// dimension `d`, or a continuous split's threshold as f32 bits (in (0, 1), so below `ONE_HOT`).
/// With the value as f32 bits in [0, 1] and the active dimensions as keys, "go right" is
/// `value ≥ key || key ∈ active`, with no branch on the node kind: no value reaches a one-hot key.
const ONE_HOT: u32 = 1 << 31;
/// Key of an absent one-hot value (or one past the vocabulary): equals no node key.
const NONE: u32 = ONE_HOT - 1;

/// One tree node as the walk sees it: its split key (unused in leaves), its latest-window count,
/// and its contribution to a score: `reference mass · 2^depth` when River's walk reaches the node
/// (its parent's reference mass is at least the size limit; masses never grow down a path, so
/// then every ancestor's is too), else 0. That is fixed for a whole window, so it is computed
/// once at the window swap and a score is a plain sum of contributions down the path.
trait Node: Copy + Default {
    fn new(key: u32) -> Self;
    fn key(&self) -> u32;
    fn contrib(&self) -> u64;
    fn latest(&self) -> u64;
    fn learn(&mut self);
    /// Ends the window: `contrib` becomes the contribution and counting restarts.
    fn swap(&mut self, contrib: u64);
}

/// 8 bytes (River's default forest is then 40 KiB), when `window_size << height` fits 16 bits
/// (River's defaults: 250 << 8 = 64,000).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct Narrow {
    key: u32,
    latest: u16,
    contrib: u16,
}

/// 16 bytes, for every other window size and height.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct Wide {
    key: u32,
    latest: u32,
    contrib: u64,
}

impl Node for Narrow {
    fn new(key: u32) -> Self {
        Narrow {
            key,
            latest: 0,
            contrib: 0,
        }
    }
    #[inline(always)]
    fn key(&self) -> u32 {
        self.key
    }
    #[inline(always)]
    fn contrib(&self) -> u64 {
        self.contrib as u64
    }
    #[inline(always)]
    fn latest(&self) -> u64 {
        self.latest as u64
    }
    #[inline(always)]
    fn learn(&mut self) {
        // At most window_size ≤ u16::MAX before the swap resets it.
        self.latest = self.latest.wrapping_add(1);
    }
    #[inline(always)]
    fn swap(&mut self, contrib: u64) {
        self.contrib = contrib as u16;
        self.latest = 0;
    }
}

impl Node for Wide {
    fn new(key: u32) -> Self {
        Wide {
            key,
            latest: 0,
            contrib: 0,
        }
    }
    #[inline(always)]
    fn key(&self) -> u32 {
        self.key
    }
    #[inline(always)]
    fn contrib(&self) -> u64 {
        self.contrib
    }
    #[inline(always)]
    fn latest(&self) -> u64 {
        self.latest as u64
    }
    #[inline(always)]
    fn learn(&mut self) {
        self.latest = self.latest.wrapping_add(1);
    }
    #[inline(always)]
    fn swap(&mut self, contrib: u64) {
        self.contrib = contrib;
        self.latest = 0;
    }
}

/// Every tree's nodes, heap order (children of `i` at `2i + 1`, `2i + 2`), tree-major.
#[derive(Debug, Clone)]
enum Nodes {
    Narrow(Vec<Narrow>),
    Wide(Vec<Wide>),
}

/// Trees walked level by level together: their paths are independent, so the CPU overlaps the
/// load → compare → next-index chains. River's default 10 trees walk as one group (measured
/// faster than two of five: more chains in flight); the rest go by five, then one by one.
const LANES: usize = 10;

/// Scores and learns one point in trees `first..first + L`; returns the sum of contributions.
#[inline(always)]
fn walk_group<N: Node, const G: usize, const L: usize>(
    nodes: &mut [N],
    stride: usize,
    first: usize,
    h: usize,
    keys: &[u32; G],
    v: u32,
) -> u64 {
    let base: [usize; L] = std::array::from_fn(|j| (first + j) * stride);
    let mut i = [0usize; L];
    let mut sum = 0u64;
    for _ in 0..h {
        for j in 0..L {
            let n = &mut nodes[base[j].wrapping_add(i[j])];
            sum = sum.wrapping_add(n.contrib());
            n.learn();
            let k = n.key();
            let right = keys.iter().fold(v >= k, |acc, &a| acc | (a == k));
            i[j] = (i[j] << 1).wrapping_add(1 + right as usize);
        }
    }
    for j in 0..L {
        let n = &mut nodes[base[j].wrapping_add(i[j])];
        sum = sum.wrapping_add(n.contrib());
        n.learn();
    }
    sum
}

fn walk<N: Node, const G: usize>(
    nodes: &mut [N],
    n_trees: usize,
    stride: usize,
    h: usize,
    keys: &[u32; G],
    v: u32,
) -> u64 {
    let mut sum = 0u64;
    let full = n_trees / LANES * LANES;
    for first in (0..full).step_by(LANES) {
        sum += walk_group::<N, G, LANES>(nodes, stride, first, h, keys, v);
    }
    let mut full = full;
    if n_trees - full >= LANES / 2 {
        sum += walk_group::<N, G, { LANES / 2 }>(nodes, stride, full, h, keys, v);
        full += LANES / 2;
    }
    for first in full..n_trees {
        sum += walk_group::<N, G, 1>(nodes, stride, first, h, keys, v);
    }
    sum
}

/// Sum of contributions down each tree's path, learning nothing.
fn path_sum<N: Node, const G: usize>(nodes: &[N], stride: usize, h: usize, keys: &[u32; G], v: u32) -> u64 {
    let mut sum = 0u64;
    for tree in nodes.chunks_exact(stride) {
        let mut i = 0usize;
        for _ in 0..h {
            let k = tree[i].key();
            sum += tree[i].contrib();
            let right = v >= k || keys.contains(&k);
            i = 2 * i + 1 + right as usize;
        }
        sum += tree[i].contrib();
    }
    sum
}

/// Ends a window in every tree: each node's contribution from its count (see [`Node`]), then
/// counting restarts. Deepest level first, so a parent's count is still there for its children.
fn end_window<N: Node>(nodes: &mut [N], stride: usize, h: usize, limit: u64) {
    for tree in nodes.chunks_exact_mut(stride) {
        for depth in (1..=h).rev() {
            // Level `depth` starts at 2^depth − 1, its parents' level at 2^(depth−1) − 1.
            let (up, down) = tree.split_at_mut((1 << depth) - 1);
            let parents = &up[(1 << (depth - 1)) - 1..];
            for (pair, parent) in down[..1 << depth].chunks_exact_mut(2).zip(parents) {
                let reached = 0u64.wrapping_sub((parent.latest() >= limit) as u64);
                for kid in pair {
                    kid.swap((kid.latest() << depth) & reached);
                }
            }
        }
        let root = tree[0].latest();
        tree[0].swap(root);
    }
}

fn plant_nodes<N: Node>(feature: &[u32], threshold: &[f32], n_trees: usize, internal: usize, stride: usize) -> Vec<N> {
    let mut nodes = vec![N::default(); n_trees * stride];
    for t in 0..n_trees {
        for i in 0..internal {
            let (f, th) = (feature[t * internal + i], threshold[t * internal + i]);
            let key = if f == CONTINUOUS { th.to_bits() } else { ONE_HOT | f };
            nodes[t * stride + i] = N::new(key);
        }
    }
    nodes
}

/// The value as f32 bits in [0, 1], where bit order is numeric order. Values past the ends
/// compare like the ends (every threshold lies strictly inside (0, 1)); NaN counts as 0.
#[inline(always)]
fn value_bits(v: f32) -> u32 {
    let v = if v >= 1.0 {
        1.0
    } else if v > 0.0 {
        v
    } else {
        0.0
    };
    v.to_bits()
}

/// A forest over `G` one-hot groups plus one continuous feature.
#[derive(Debug, Clone)]
pub struct HalfSpaceTrees {
    params: HstParams,
    height: usize,
    n_trees: usize,
    nodes_per_tree: usize,
    /// Number of one-hot dimensions; larger active indices match nothing.
    dims: u32,
    /// Per internal node (heap order, tree-major), as planted (for export and tests).
    feature: Vec<u32>,
    threshold: Vec<f32>,
    /// The same splits with the window counts, laid out for the walk.
    nodes: Nodes,
    counter: usize,
    window: usize,
    first_window: bool,
    /// Smallest reference mass that lets the walk go deeper (River: `r_mass >= 0.1 · window`).
    size_limit: u64,
    max_score: f64,
    /// Some split is on a one-hot dimension. Without one (`--split-weight duration`) the walk
    /// skips comparing every node with the point's one-hot keys.
    one_hot: bool,
}

impl HalfSpaceTrees {
    /// Plants `params.n_trees` trees over one-hot groups of the given sizes (dimensions are
    /// numbered consecutively: group 0 is `0..sizes[0]`, group 1 follows, ...).
    pub fn new(params: HstParams, group_sizes: &[u32]) -> Self {
        let h = params.height.clamp(1, 20);
        let n_trees = params.n_trees.max(1);
        let window = params.window_size.max(1);
        let internal = (1usize << h) - 1;
        let stride = (1usize << (h + 1)) - 1;
        let mut rng = crate::core::rng::Rng::from_state(params.seed);
        let mut planter = Planter::new(group_sizes, params.split_weight);
        let mut feature = vec![0u32; n_trees * internal];
        let mut threshold = vec![0f32; n_trees * internal];
        for t in 0..n_trees {
            let base = t * internal;
            planter.plant(
                &mut rng,
                0,
                h,
                &mut feature[base..base + internal],
                &mut threshold[base..base + internal],
            );
        }
        let nodes = if window <= u16::MAX as usize && (window << h) <= u16::MAX as usize {
            Nodes::Narrow(plant_nodes(&feature, &threshold, n_trees, internal, stride))
        } else {
            Nodes::Wide(plant_nodes(&feature, &threshold, n_trees, internal, stride))
        };
        // r ≥ 0.1·window as f64 ⇔ r ≥ ceil(0.1·window) for integer r.
        let size_limit = (0.1 * window as f64).ceil() as u64;
        let one_hot = feature.iter().any(|&f| f != CONTINUOUS);
        HalfSpaceTrees {
            params,
            height: h,
            n_trees,
            nodes_per_tree: stride,
            dims: group_sizes.iter().sum::<u32>().min(NONE),
            feature,
            threshold,
            nodes,
            counter: 0,
            window,
            first_window: true,
            size_limit,
            max_score: n_trees as f64 * window as f64 * ((1u64 << (h + 1)) - 1) as f64,
            one_hot,
        }
    }

    /// The parameters the forest was built with.
    pub fn params(&self) -> &HstParams {
        &self.params
    }

    /// Whether a reference window exists yet (before it, every score is 0, as in River).
    pub fn ready(&self) -> bool {
        !self.first_window
    }

    #[inline(always)]
    fn keys<const G: usize>(&self, p: &Point<G>) -> [u32; G] {
        p.active.map(|a| match a {
            Some(d) if d < self.dims => ONE_HOT | d,
            _ => NONE,
        })
    }

    /// Scores `p` against the reference window, then learns it into the latest window: River's
    /// `score_one` followed by `learn_one`, in one walk per tree.
    #[inline]
    pub fn score_learn<const G: usize>(&mut self, p: &Point<G>) -> f64 {
        let keys = self.keys(p);
        let v = value_bits(p.value);
        let (n, stride, h) = (self.n_trees, self.nodes_per_tree, self.height);
        // Before the first window every contribution is 0.
        let sum = match (&mut self.nodes, self.one_hot) {
            (Nodes::Narrow(nodes), true) => walk(nodes, n, stride, h, &keys, v),
            (Nodes::Wide(nodes), true) => walk(nodes, n, stride, h, &keys, v),
            (Nodes::Narrow(nodes), false) => walk(nodes, n, stride, h, &[], v),
            (Nodes::Wide(nodes), false) => walk(nodes, n, stride, h, &[], v),
        };
        let scoring = !self.first_window;
        self.counter += 1;
        if self.counter == self.window {
            // The latest window becomes the reference; counting restarts (no reallocation).
            match &mut self.nodes {
                Nodes::Narrow(nodes) => end_window(nodes, stride, h, self.size_limit),
                Nodes::Wide(nodes) => end_window(nodes, stride, h, self.size_limit),
            }
            self.first_window = false;
            self.counter = 0;
        }
        if scoring {
            1.0 - sum as f64 / self.max_score
        } else {
            0.0
        }
    }

    /// Score only, without learning (0 before the first window completes).
    pub fn score<const G: usize>(&self, p: &Point<G>) -> f64 {
        if self.first_window {
            return 0.0;
        }
        let keys = self.keys(p);
        let v = value_bits(p.value);
        let (stride, h) = (self.nodes_per_tree, self.height);
        let sum = match &self.nodes {
            Nodes::Narrow(nodes) => path_sum(nodes, stride, h, &keys, v),
            Nodes::Wide(nodes) => path_sum(nodes, stride, h, &keys, v),
        };
        1.0 - sum as f64 / self.max_score
    }

    /// Reference-window mass at the root of tree 0 (for tests and diagnostics).
    pub fn reference_root_mass(&self) -> u32 {
        // The root always contributes its mass · 2^0.
        match &self.nodes {
            Nodes::Narrow(nodes) => nodes[0].contrib() as u32,
            Nodes::Wide(nodes) => nodes[0].contrib() as u32,
        }
    }

    /// Latest-window count of every node (tree-major heap order), for tests.
    #[cfg(test)]
    fn latest_counts(&self) -> Vec<u64> {
        match &self.nodes {
            Nodes::Narrow(nodes) => nodes.iter().map(Node::latest).collect(),
            Nodes::Wide(nodes) => nodes.iter().map(Node::latest).collect(),
        }
    }

    /// Split features of every internal node (tree-major heap order), for tests.
    pub fn split_features(&self) -> &[u32] {
        &self.feature
    }

    /// Split thresholds as planted (a one-hot split's lies in (0, 1)), same order as
    /// [`Self::split_features`].
    pub fn split_thresholds(&self) -> &[f32] {
        &self.threshold
    }
}

/// Chooses splits like River's `make_padded_tree`: a feature with probability proportional to its
/// current range width, a threshold uniform in the middle 70% of that range.
struct Planter {
    /// Per one-hot dimension: its group, and its current range (lo, hi).
    group_of: Vec<usize>,
    group_start: Vec<u32>,
    group_len: Vec<u32>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// Per one-hot dimension: how many ancestors excluded it (see the module comment).
    excluded: Vec<u32>,
    value: (f64, f64),
    weight: SplitWeight,
}

const PADDING: f64 = 0.15;

impl Planter {
    fn new(group_sizes: &[u32], weight: SplitWeight) -> Self {
        let dims: usize = group_sizes.iter().map(|&s| s as usize).sum();
        let mut group_of = Vec::with_capacity(dims);
        let mut group_start = Vec::new();
        let mut start = 0u32;
        for (g, &s) in group_sizes.iter().enumerate() {
            group_start.push(start);
            group_of.extend(std::iter::repeat_n(g, s as usize));
            start += s;
        }
        Planter {
            group_of,
            group_start,
            group_len: group_sizes.to_vec(),
            lo: vec![0.0; dims],
            hi: vec![1.0; dims],
            excluded: vec![0; dims],
            value: (0.0, 1.0),
            weight,
        }
    }

    /// `open[g]`: dimensions of group `g` not excluded on the current path.
    fn width(&self, d: usize, open: &[u32]) -> f64 {
        if self.excluded[d] > 0 {
            0.0
        } else if self.weight == SplitWeight::Group {
            1.0 / open[self.group_of[d]] as f64
        } else {
            self.hi[d] - self.lo[d]
        }
    }

    /// The one-hot dimension a uniform `u` picks by width, or `None` for the continuous feature.
    fn pick_dimension(&self, u: f64) -> Option<usize> {
        let mut open = vec![0u32; self.group_len.len()];
        for d in 0..self.lo.len() {
            open[self.group_of[d]] += (self.excluded[d] == 0) as u32;
        }
        let value_w = self.value.1 - self.value.0;
        let total: f64 = value_w + (0..self.lo.len()).map(|d| self.width(d, &open)).sum::<f64>();
        let mut pick = u * total;
        for d in 0..self.lo.len() {
            let w = self.width(d, &open);
            if pick < w {
                return Some(d);
            }
            pick -= w;
        }
        None
    }

    fn plant(&mut self, rng: &mut Rng, i: usize, levels: usize, feature: &mut [u32], threshold: &mut [f32]) {
        if levels == 0 {
            return;
        }
        let pick = rng.uniform();
        // Duration-only splits never pick a one-hot dimension: skip the O(dimensions) weighing.
        let on = if self.weight == SplitWeight::Duration {
            None
        } else {
            self.pick_dimension(pick)
        };
        let left = 2 * i + 1;
        let right = 2 * i + 2;
        match on {
            None => {
                let (a, b) = self.value;
                let at = a + PADDING * (b - a) + rng.uniform() * (1.0 - 2.0 * PADDING) * (b - a);
                feature[i] = CONTINUOUS;
                threshold[i] = at as f32;
                self.value = (a, at);
                self.plant(rng, left, levels - 1, feature, threshold);
                self.value = (at, b);
                self.plant(rng, right, levels - 1, feature, threshold);
                self.value = (a, b);
            }
            Some(d) => {
                let (a, b) = (self.lo[d], self.hi[d]);
                let at = a + PADDING * (b - a) + rng.uniform() * (1.0 - 2.0 * PADDING) * (b - a);
                feature[i] = d as u32;
                // Stored in (0, 1) so a 0/1 value compares like River's `x[f] < at`.
                threshold[i] = at as f32;
                // Left (value 0): this dimension is settled.
                self.excluded[d] += 1;
                self.plant(rng, left, levels - 1, feature, threshold);
                // Right (value 1): the whole group is settled (the others are 0).
                let g = self.group_of[d];
                let range = self.group_start[g] as usize..(self.group_start[g] + self.group_len[g]) as usize;
                for e in range.clone() {
                    if e != d {
                        self.excluded[e] += 1;
                    }
                }
                self.plant(rng, right, levels - 1, feature, threshold);
                for e in range {
                    self.excluded[e] -= 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(svc: u32, op: u32, value: f32) -> Point<2> {
        Point {
            active: [Some(svc), Some(op)],
            value,
        }
    }

    fn params(window_size: usize, seed: u64) -> HstParams {
        HstParams {
            n_trees: 10,
            height: 8,
            window_size,
            seed,
            split_weight: SplitWeight::Dimension,
        }
    }

    /// Inliers: 3 services × 2 operations each, durations near a per-operation level.
    fn inlier(rng: &mut crate::core::rng::Rng) -> Point<2> {
        let svc = (rng.next_u64() % 3) as u32;
        let op = 3 + svc * 2 + (rng.next_u64() % 2) as u32;
        let level = 0.02 + 0.01 * (op - 3) as f32;
        p(svc, op, level + 0.005 * rng.uniform() as f32)
    }

    #[test]
    fn outlier_scores_higher_than_inliers_after_warm_up() {
        let mut hst = HalfSpaceTrees::new(params(250, 7), &[3, 6]);
        let mut rng = crate::core::rng::Rng::from_state(1);
        for _ in 0..1000 {
            hst.score_learn(&inlier(&mut rng));
        }
        assert!(hst.ready());
        let inliers: Vec<f64> = (0..200).map(|_| hst.score(&inlier(&mut rng))).collect();
        let max_inlier = inliers.iter().cloned().fold(f64::MIN, f64::max);
        // Same service and operation as inliers, duration 20× the usual.
        let outlier = hst.score(&p(0, 3, 0.6));
        // An operation pair never seen together.
        let odd_pair = hst.score(&p(0, 8, 0.02));
        assert!(outlier > max_inlier, "outlier {outlier} vs max inlier {max_inlier}");
        assert!(odd_pair > max_inlier, "odd pair {odd_pair} vs max inlier {max_inlier}");
        assert!((0.0..=1.0).contains(&outlier));
    }

    #[test]
    fn scores_zero_until_first_window_then_swaps() {
        let mut hst = HalfSpaceTrees::new(params(100, 3), &[3, 6]);
        let mut rng = crate::core::rng::Rng::from_state(2);
        for i in 0..100 {
            assert!(!hst.ready(), "ready too early at {i}");
            assert_eq!(hst.reference_root_mass(), 0);
            assert_eq!(hst.score_learn(&inlier(&mut rng)), 0.0);
        }
        // The 100th point closed the first window: its mass is now the reference.
        assert!(hst.ready());
        assert_eq!(hst.reference_root_mass(), 100);
        assert!(hst.score_learn(&inlier(&mut rng)) > 0.0);
        for _ in 0..98 {
            hst.score_learn(&inlier(&mut rng));
        }
        // 99 points into the second window: the reference is still the first window's 100.
        assert_eq!(hst.reference_root_mass(), 100);
        // Each tree's latest root mass equals the points counted since the last swap.
        assert!(hst.latest_counts().iter().step_by(hst.nodes_per_tree).all(|&m| m == 99));
        hst.score_learn(&inlier(&mut rng));
        assert_eq!(hst.reference_root_mass(), 100);
        assert!(
            hst.latest_counts().iter().all(|&m| m == 0),
            "latest window reset at the swap"
        );
    }

    #[test]
    fn same_seed_same_forest_and_scores() {
        let run = |seed| {
            let mut hst = HalfSpaceTrees::new(params(50, seed), &[3, 6]);
            let mut rng = crate::core::rng::Rng::from_state(9);
            let scores: Vec<f64> = (0..300).map(|_| hst.score_learn(&inlier(&mut rng))).collect();
            (hst.split_features().to_vec(), scores)
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11).0, run(12).0);
    }

    #[test]
    fn paths_never_split_a_settled_one_hot_dimension() {
        let hst = HalfSpaceTrees::new(params(50, 5), &[2, 3]);
        let h = hst.params.height;
        let internal = (1 << h) - 1;
        for t in 0..hst.params.n_trees {
            let f = &hst.split_features()[t * internal..(t + 1) * internal];
            // Walk every root-to-leaf path and check no one-hot dimension repeats and nothing from
            // a group follows its "is 1" side.
            fn walk(f: &[u32], i: usize, depth: usize, h: usize, seen: &mut Vec<u32>, groups: &[(u32, u32)]) {
                if depth == h {
                    return;
                }
                let d = f[i];
                if d != CONTINUOUS {
                    assert!(!seen.contains(&d), "dimension {d} split twice on a path");
                    seen.push(d);
                    walk(f, 2 * i + 1, depth + 1, h, seen, groups);
                    let (s, e) = *groups.iter().find(|(s, e)| (*s..*e).contains(&d)).unwrap();
                    let before = seen.len();
                    seen.extend((s..e).filter(|x| *x != d));
                    walk(f, 2 * i + 2, depth + 1, h, seen, groups);
                    seen.truncate(before);
                    seen.pop();
                } else {
                    walk(f, 2 * i + 1, depth + 1, h, seen, groups);
                    walk(f, 2 * i + 2, depth + 1, h, seen, groups);
                }
            }
            walk(f, 0, 0, h, &mut Vec::new(), &[(0, 2), (2, 5)]);
        }
    }

    #[test]
    fn score_matches_score_learn() {
        let mut a = HalfSpaceTrees::new(params(40, 4), &[3, 6]);
        let mut rng = crate::core::rng::Rng::from_state(3);
        for _ in 0..200 {
            let x = inlier(&mut rng);
            let s = a.score(&x);
            assert_eq!(a.score_learn(&x), s);
        }
    }

    /// River's algorithm written plainly: dense feature vectors, boxed nodes, `x[f] < t` goes
    /// left, masses in each node, score then learn, swap by copying every node.
    struct RefNode {
        feature: u32,
        threshold: f32,
        l: u32,
        r: u32,
        kids: Option<Box<(RefNode, RefNode)>>,
    }

    fn ref_tree(f: &[u32], t: &[f32], i: usize, levels: usize) -> RefNode {
        let kids = (levels > 0).then(|| {
            Box::new((
                ref_tree(f, t, 2 * i + 1, levels - 1),
                ref_tree(f, t, 2 * i + 2, levels - 1),
            ))
        });
        let (feature, threshold) = if levels > 0 { (f[i], t[i]) } else { (0, 0.0) };
        RefNode {
            feature,
            threshold,
            l: 0,
            r: 0,
            kids,
        }
    }

    struct Reference {
        trees: Vec<RefNode>,
        dims: usize,
        window: usize,
        counter: usize,
        first_window: bool,
        max_score: f64,
    }

    impl Reference {
        fn of(hst: &HalfSpaceTrees, dims: usize) -> Self {
            let (h, n) = (hst.params.height, hst.params.n_trees);
            let internal = (1 << h) - 1;
            let trees = (0..n)
                .map(|k| {
                    let r = k * internal..(k + 1) * internal;
                    ref_tree(&hst.split_features()[r.clone()], &hst.split_thresholds()[r], 0, h)
                })
                .collect();
            let w = hst.params.window_size;
            Reference {
                trees,
                dims,
                window: w,
                counter: 0,
                first_window: true,
                max_score: (n * w) as f64 * (2f64.powi(h as i32 + 1) - 1.0),
            }
        }

        fn dense<const G: usize>(&self, p: &Point<G>) -> Vec<f32> {
            let mut x = vec![0.0; self.dims + 1];
            for d in p.active.iter().flatten() {
                if (*d as usize) < self.dims {
                    x[*d as usize] = 1.0;
                }
            }
            x[self.dims] = p.value;
            x
        }

        fn child<'a>(n: &'a RefNode, x: &[f32], dims: usize) -> Option<&'a RefNode> {
            let f = if n.feature == CONTINUOUS {
                dims
            } else {
                n.feature as usize
            };
            n.kids.as_deref().map(|(a, b)| if x[f] < n.threshold { a } else { b })
        }

        fn score_learn<const G: usize>(&mut self, p: &Point<G>) -> f64 {
            let x = self.dense(p);
            let limit = 0.1 * self.window as f64;
            let mut score = 0.0;
            let dims = self.dims;
            for t in &mut self.trees {
                if !self.first_window {
                    let (mut node, mut depth) = (Some(&*t), 0);
                    while let Some(n) = node {
                        score += n.r as f64 * 2f64.powi(depth);
                        if (n.r as f64) < limit {
                            break;
                        }
                        node = Self::child(n, &x, dims);
                        depth += 1;
                    }
                }
                let mut node = Some(t);
                while let Some(n) = node {
                    n.l += 1;
                    let f = if n.feature == CONTINUOUS {
                        dims
                    } else {
                        n.feature as usize
                    };
                    let left = x[f] < n.threshold;
                    node = n.kids.as_deref_mut().map(|(a, b)| if left { a } else { b });
                }
            }
            let out = if self.first_window {
                0.0
            } else {
                1.0 - score / self.max_score
            };
            self.counter += 1;
            if self.counter == self.window {
                fn swap(n: &mut RefNode) {
                    n.r = n.l;
                    n.l = 0;
                    if let Some(k) = n.kids.as_deref_mut() {
                        swap(&mut k.0);
                        swap(&mut k.1);
                    }
                }
                self.trees.iter_mut().for_each(swap);
                self.first_window = false;
                self.counter = 0;
            }
            out
        }
    }

    /// Runs the fast forest and the plain reference side by side over the same spans; index 11
    /// stands for "unknown" (None), other indices past the vocabulary for stray ids.
    fn fast_vs_reference(
        params: HstParams,
        services: u32,
        operations: u32,
        spans: &[(u32, u32, f32)],
    ) -> std::result::Result<(), String> {
        let mut fast = HalfSpaceTrees::new(params, &[services, operations]);
        let mut reference = Reference::of(&fast, (services + operations) as usize);
        for (k, &(a, b, v)) in spans.iter().enumerate() {
            let pick = |x: u32| (x != 11).then_some(x);
            let p = Point {
                active: [pick(a), pick(b)],
                value: v,
            };
            let s = fast.score(&p);
            let got = fast.score_learn(&p);
            let want = reference.score_learn(&p);
            if got != want || s != want {
                return Err(format!("span {k}: score_learn {got}, score {s}, reference {want}"));
            }
        }
        Ok(())
    }

    #[test]
    fn narrow_and_wide_nodes_equal_reference() {
        // (n_trees, height, window): full lane groups, a remainder, 16-bit nodes (window << height
        // fits 16 bits) and 64-bit ones (it does not, or the window alone does not).
        let cases = [(10, 8, 250), (7, 6, 30), (5, 10, 100), (3, 4, 70_000), (12, 9, 200)];
        let mut rng = crate::core::rng::Rng::from_state(17);
        let spans: Vec<(u32, u32, f32)> = (0..1500)
            .map(|_| {
                (
                    (rng.next_u64() % 5) as u32,
                    (rng.next_u64() % 12) as u32,
                    rng.uniform() as f32,
                )
            })
            .collect();
        for (n_trees, height, window) in cases {
            for split_weight in [SplitWeight::Dimension, SplitWeight::Group] {
                let params = HstParams {
                    n_trees,
                    height,
                    window_size: window,
                    seed: 5,
                    split_weight,
                };
                let wide = matches!(HalfSpaceTrees::new(params, &[4, 7]).nodes, Nodes::Wide(_));
                assert_eq!(wide, window << height > 65_535, "{n_trees} {height} {window}");
                fast_vs_reference(params, 4, 7, &spans).unwrap_or_else(|e| panic!("{n_trees} {height} {window}: {e}"));
            }
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn fast_walk_equals_reference(
            services in 1u32..4, operations in 1u32..6, height in 1usize..12, n_trees in 1usize..12,
            window in 1usize..40, seed in any::<u64>(),
            split_weight in prop_oneof![Just(SplitWeight::Group), Just(SplitWeight::Dimension), Just(SplitWeight::Duration)],
            spans in prop::collection::vec((0u32..12, 0u32..12, prop_oneof![Just(0.0f32), Just(1.0f32), 0.0f32..1.0]), 1..300),
        ) {
            let params = HstParams {
                n_trees, height, window_size: window, seed,
                split_weight,
            };
            prop_assert_eq!(fast_vs_reference(params, services, operations, &spans), Ok(()));
        }
    }
}
