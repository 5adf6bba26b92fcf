//! A small MLP on input windows: `window → hidden (ReLU) → hidden (ReLU) → 1`, trained on CPU
//! with full-batch AdamW to predict the next value from the previous `window` values.
//!
//! - **dtype**: the network is f32 throughout (weights, training, inference): twice the SIMD
//!   lanes and half the memory traffic of f64, and ample precision for inputs normalized to unit
//!   variance. The normalization constants and the residual sigma are kept (and stored) as f64.
//! - **Determinism**: weights are initialized from [`crate::core::rng::Rng`] seeded with `seed`
//!   (Kaiming-uniform for the ReLU layers, Xavier-uniform for the output layer, zero biases),
//!   and training is full-batch and single-threaded with a fixed summation order, so there is
//!   no batch order or thread schedule to vary. Same input and seed give bit-identical forecasts.
//! - **Training data**: the last `min(len − window, 4096)` sliding windows; inputs and targets
//!   are normalized by the mean / std of the span those windows cover.
//! - **Forecast**: recursive multi-step from the last `window` values; σ is the in-sample
//!   one-step residual RMS, widened as σ·√h (calibrated conformal intervals are applied
//!   elsewhere).
//! - **Weights**: [`Fitted::weights`] is a safetensors file holding the six layer tensors
//!   (`l{1,2,3}.weight`, `l{1,2,3}.bias`, f32, candle `Linear` layout `[out, in]`) and the
//!   constants `norm.mean`, `norm.std`, `resid.sigma` (f64, shape `[1]`). [`Mlp::restore`]
//!   rebuilds the fitted model from them without training.
//!
//! Training is plain Rust (full-batch forward/backward and AdamW written out, in this crate's
//! opt-level 3) because candle's per-epoch cost in the dev profile is ~70× the target; the
//! gradients and the AdamW trajectory are checked against candle autograd and candle-nn's AdamW
//! in the tests. candle reads the weights back (`candle_core::safetensors::load_buffer`).
//! Inference also runs on the extracted weights in plain Rust.

use super::{Fitted, Forecast, Forecaster, ModelSpec};
use crate::core::rng::Rng;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};

/// At most this many training windows (the most recent ones), to bound training cost.
pub const MAX_WINDOWS: usize = 4096;
/// Training needs at least this many points beyond one window.
pub const MIN_EXTRA_POINTS: usize = 8;
/// Upper bound on the parameter count, so an absurd spec is an error rather than an abort.
pub const MAX_PARAMS: usize = 1 << 22;

/// AdamW peak learning rate; decays by cosine to `LR_FLOOR`·peak over the epochs.
const LR: f64 = 1e-2;
const LR_FLOOR: f64 = 0.05;
const WEIGHT_DECAY: f64 = 1e-4;

const LAYERS: [&str; 3] = ["l1", "l2", "l3"];

/// The unfitted MLP family: window, hidden width, epochs and seed (see the module docs).
pub struct Mlp {
    window: usize,
    hidden: usize,
    epochs: usize,
    seed: u64,
}

fn err(message: impl Into<String>) -> Error {
    Error::model("mlp", message)
}

fn candle_err(context: &str) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| err(format!("{context}: {e}"))
}

impl Mlp {
    /// An MLP reading `window` values through two `hidden`-unit layers, trained `epochs` epochs
    /// from weights seeded by `seed`.
    pub fn new(window: usize, hidden: usize, epochs: usize, seed: u64) -> Self {
        Mlp {
            window,
            hidden,
            epochs,
            seed,
        }
    }

    fn spec(&self) -> ModelSpec {
        ModelSpec::Mlp {
            window: self.window,
            hidden: self.hidden,
            epochs: self.epochs,
            seed: self.seed,
        }
    }

    fn check_dims(&self) -> Result<()> {
        if self.window == 0 {
            return Err(err("window must be at least 1"));
        }
        if self.hidden == 0 {
            return Err(err("hidden must be at least 1"));
        }
        let params = (self.window.saturating_add(self.hidden).saturating_add(2)).saturating_mul(self.hidden);
        if params > MAX_PARAMS {
            return Err(err(format!(
                "window {} and hidden {} give {params} parameters, more than the {MAX_PARAMS} allowed",
                self.window, self.hidden
            )));
        }
        Ok(())
    }

    fn check_values(y: &[f64]) -> Result<()> {
        match y.iter().position(|v| !v.is_finite()) {
            Some(i) => Err(err(format!("non-finite value at index {i}"))),
            None => Ok(()),
        }
    }

    /// Fits and returns the concrete fitted type (with its training losses).
    pub fn fit_mlp(&self, y: &[f64]) -> Result<FittedMlp> {
        self.check_dims()?;
        if self.epochs == 0 {
            return Err(err("epochs must be at least 1"));
        }
        let (window, hidden) = (self.window, self.hidden);
        if y.len() < window + MIN_EXTRA_POINTS {
            return Err(err(format!(
                "need at least window + {MIN_EXTRA_POINTS} = {} points for window {window}, got {}",
                window + MIN_EXTRA_POINTS,
                y.len()
            )));
        }
        Self::check_values(y)?;

        // The most recent windows, and the span of y they cover.
        let n = (y.len() - window).min(MAX_WINDOWS);
        let span = &y[y.len() - n - window..];
        let mean = span.iter().sum::<f64>() / span.len() as f64;
        let var = span.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / span.len() as f64;
        let sd = var.sqrt();
        let std = if sd > 1e-9 * mean.abs().max(1.0) { sd } else { 1.0 };
        if !mean.is_finite() || !std.is_finite() {
            return Err(err("training values too large to normalize"));
        }
        let z: Vec<f32> = span.iter().map(|v| ((v - mean) / std) as f32).collect();
        let mut xs = Vec::with_capacity(n * window);
        for i in 0..n {
            xs.extend_from_slice(&z[i..i + window]);
        }
        let ts: Vec<f32> = z[window..].to_vec();

        let mut rng = Rng::new(self.seed);
        let init = Net::init(window, hidden, &mut rng);
        let (net, losses) = train(&init, &xs, &ts, self.epochs);

        // In-sample one-step residual RMS, in the units of y.
        let sse: f64 = (0..n)
            .map(|i| {
                let e = net.forward(&xs[i * window..(i + 1) * window]) - ts[i];
                (e as f64).powi(2)
            })
            .sum();
        let sigma = (sse / n as f64).sqrt() * std;
        if !sigma.is_finite() {
            return Err(err("training diverged (non-finite residuals)"));
        }
        Ok(FittedMlp {
            spec: self.spec(),
            net,
            mean,
            std,
            sigma,
            last: y[y.len() - window..].to_vec(),
            losses,
        })
    }

    /// Rebuilds the fitted network from safetensors bytes, conditioned on `y`.
    pub fn restore(&self, y: &[f64], weights: &[u8]) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(self.restore_mlp(y, weights)?))
    }

    /// [`Mlp::restore`] returning the concrete type.
    pub fn restore_mlp(&self, y: &[f64], weights: &[u8]) -> Result<FittedMlp> {
        self.check_dims()?;
        let (window, hidden) = (self.window, self.hidden);
        if y.len() < window {
            return Err(err(format!(
                "need at least window = {window} points to condition on, got {}",
                y.len()
            )));
        }
        Self::check_values(y)?;
        let tensors = candle_core::safetensors::load_buffer(weights, &Device::Cpu)
            .map_err(candle_err("weights are not valid safetensors"))?;
        let get = |name: &str, dtype: DType, shape: &[usize]| -> Result<Tensor> {
            let t = tensors
                .get(name)
                .ok_or_else(|| err(format!("weights: missing tensor {name:?}")))?;
            if t.dtype() != dtype || t.dims() != shape {
                return Err(err(format!(
                    "weights: tensor {name:?} is {:?} {:?}, expected {dtype:?} {shape:?} (window {window}, hidden {hidden})",
                    t.dtype(),
                    t.dims()
                )));
            }
            Ok(t.clone())
        };
        let f32s = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
            let v = get(name, DType::F32, shape)?
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(candle_err("weights"))?;
            if v.iter().any(|x| !x.is_finite()) {
                return Err(err(format!("weights: tensor {name:?} has non-finite values")));
            }
            Ok(v)
        };
        let f64_scalar = |name: &str| -> Result<f64> {
            let v = get(name, DType::F64, &[1])?
                .to_vec1::<f64>()
                .map_err(candle_err("weights"))?;
            Ok(v[0])
        };
        let shapes = Net::shapes(window, hidden);
        let mut params: Vec<Vec<f32>> = Vec::with_capacity(6);
        for (i, layer) in LAYERS.iter().enumerate() {
            params.push(f32s(&format!("{layer}.weight"), &shapes[2 * i])?);
            params.push(f32s(&format!("{layer}.bias"), &shapes[2 * i + 1])?);
        }
        let mean = f64_scalar("norm.mean")?;
        let std = f64_scalar("norm.std")?;
        let sigma = f64_scalar("resid.sigma")?;
        let valid = mean.is_finite() && std.is_finite() && std > 0.0 && sigma.is_finite() && sigma >= 0.0;
        if !valid {
            return Err(err(format!(
                "weights: invalid constants norm.mean={mean}, norm.std={std}, resid.sigma={sigma}"
            )));
        }
        let mut it = params.into_iter();
        let mut next = || it.next().unwrap_or_default();
        let net = Net {
            window,
            hidden,
            w1: next(),
            b1: next(),
            w2: next(),
            b2: next(),
            w3: next(),
            b3: next(),
        };
        Ok(FittedMlp {
            spec: self.spec(),
            net,
            mean,
            std,
            sigma,
            last: y[y.len() - window..].to_vec(),
            losses: Vec::new(),
        })
    }
}

impl Forecaster for Mlp {
    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(self.fit_mlp(y)?))
    }
}

/// The network's parameters, row-major in candle's `Linear` layout (`weight: [out, in]`).
#[derive(Debug, Clone, PartialEq)]
struct Net {
    window: usize,
    hidden: usize,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    w3: Vec<f32>,
    b3: Vec<f32>,
}

impl Net {
    /// Shapes of w1, b1, w2, b2, w3, b3.
    fn shapes(window: usize, hidden: usize) -> [Vec<usize>; 6] {
        [
            vec![hidden, window],
            vec![hidden],
            vec![hidden, hidden],
            vec![hidden],
            vec![1, hidden],
            vec![1],
        ]
    }

    /// Seeded init: Kaiming-uniform (bound √(6/fan_in)) for the ReLU layers, Xavier-uniform
    /// (bound √(6/(fan_in+fan_out))) for the linear output layer, zero biases.
    fn init(window: usize, hidden: usize, rng: &mut Rng) -> Net {
        let mut uniform = |len: usize, bound: f64| -> Vec<f32> {
            (0..len).map(|_| ((2.0 * rng.uniform() - 1.0) * bound) as f32).collect()
        };
        let w1 = uniform(hidden * window, (6.0 / window as f64).sqrt());
        let w2 = uniform(hidden * hidden, (6.0 / hidden as f64).sqrt());
        let w3 = uniform(hidden, (6.0 / (hidden + 1) as f64).sqrt());
        Net {
            window,
            hidden,
            w1,
            b1: vec![0.0; hidden],
            w2,
            b2: vec![0.0; hidden],
            w3,
            b3: vec![0.0],
        }
    }

    fn params(&self) -> [&Vec<f32>; 6] {
        [&self.w1, &self.b1, &self.w2, &self.b2, &self.w3, &self.b3]
    }

    /// One forward pass on a normalized window (length `self.window`).
    fn forward(&self, x: &[f32]) -> f32 {
        let dense = |w: &[f32], b: &[f32], input: &[f32]| -> Vec<f32> {
            w.chunks_exact(input.len())
                .zip(b)
                .map(|(row, b)| (row.iter().zip(input).map(|(w, x)| w * x).sum::<f32>() + b).max(0.0))
                .collect()
        };
        let h1 = dense(&self.w1, &self.b1, x);
        let h2 = dense(&self.w2, &self.b2, &h1);
        self.w3.iter().zip(&h2).map(|(w, x)| w * x).sum::<f32>() + self.b3[0]
    }
}

/// AdamW as candle-nn implements it (decoupled weight decay on every parameter, bias-corrected
/// moments), on the trainer's flat parameter arrays.
struct AdamW {
    m: [Vec<f32>; 6],
    v: [Vec<f32>; 6],
    t: i32,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl AdamW {
    fn new(p: &[Vec<f32>; 6]) -> Self {
        let zeros = || p.clone().map(|v| vec![0.0; v.len()]);
        AdamW {
            m: zeros(),
            v: zeros(),
            t: 0,
        }
    }

    fn step(&mut self, p: &mut [Vec<f32>; 6], g: &[Vec<f32>; 6], lr: f64) {
        self.t += 1;
        let scale_m = (1.0 / (1.0 - BETA1.powi(self.t))) as f32;
        let scale_v = (1.0 / (1.0 - BETA2.powi(self.t))) as f32;
        let decay = (1.0 - lr * WEIGHT_DECAY) as f32;
        let (b1, b2, eps, lr) = (BETA1 as f32, BETA2 as f32, EPS as f32, lr as f32);
        for i in 0..6 {
            let it = p[i]
                .iter_mut()
                .zip(&g[i])
                .zip(self.m[i].iter_mut().zip(self.v[i].iter_mut()));
            for ((theta, g), (m, v)) in it {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                let step = (*m * scale_m) / ((*v * scale_v).sqrt() + eps);
                *theta = *theta * decay - lr * step;
            }
        }
    }
}

/// `out += a · x`, the one inner loop of training (vectorizes).
#[inline(always)]
fn axpy(out: &mut [f32], a: f32, x: &[f32]) {
    for (o, x) in out.iter_mut().zip(x) {
        *o += a * x;
    }
}

fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

/// The trainer's layout: weights `[in, out]` (transposed from `Net`), so every inner loop is
/// an `axpy` over a contiguous row.
fn to_train(net: &Net) -> [Vec<f32>; 6] {
    let (w, h) = (net.window, net.hidden);
    [
        transpose(&net.w1, h, w),
        net.b1.clone(),
        transpose(&net.w2, h, h),
        net.b2.clone(),
        net.w3.clone(),
        net.b3.clone(),
    ]
}

fn from_train(p: &[Vec<f32>; 6], window: usize, hidden: usize) -> Net {
    let (w, h) = (window, hidden);
    Net {
        window,
        hidden,
        w1: transpose(&p[0], w, h),
        b1: p[1].clone(),
        w2: transpose(&p[2], h, h),
        b2: p[3].clone(),
        w3: p[4].clone(),
        b3: p[5].clone(),
    }
}

/// Full-batch MSE (normalized units) and its gradients into `g` (same layout as `p`):
/// forward and backward one window at a time, accumulating gradients in a fixed order.
///
/// On x86-64 CPUs with AVX2 the same code is compiled a second time with AVX2 enabled (~1.5×
/// faster here, since the crate targets baseline x86-64). Every float operation is the same in
/// both (no reassociation, no FMA contraction), so the results are bit-identical; a test checks.
fn loss_and_grads(
    p: &[Vec<f32>; 6],
    window: usize,
    hidden: usize,
    xs: &[f32],
    ts: &[f32],
    g: &mut [Vec<f32>; 6],
) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { loss_and_grads_avx2(p, window, hidden, xs, ts, g) };
    }
    loss_and_grads_generic(p, window, hidden, xs, ts, g)
}

/// [`loss_and_grads_generic`] compiled with AVX2.
///
/// # Safety
/// Only call on a CPU that supports AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn loss_and_grads_avx2(
    p: &[Vec<f32>; 6],
    window: usize,
    hidden: usize,
    xs: &[f32],
    ts: &[f32],
    g: &mut [Vec<f32>; 6],
) -> f64 {
    loss_and_grads_generic(p, window, hidden, xs, ts, g)
}

#[inline(always)]
fn loss_and_grads_generic(
    p: &[Vec<f32>; 6],
    window: usize,
    hidden: usize,
    xs: &[f32],
    ts: &[f32],
    g: &mut [Vec<f32>; 6],
) -> f64 {
    let h = hidden;
    for gi in g.iter_mut() {
        gi.fill(0.0);
    }
    // W2 as [out, in] for the backward pass through layer 2.
    let w2 = transpose(&p[2], h, h);
    // Layer 1 (dense in its input) runs BLOCK windows at a time so each weight row is loaded
    // once per block; per window the arithmetic and its order are the same as one at a time.
    let mut a1 = vec![0.0f32; BLOCK * h];
    let mut dz1 = vec![0.0f32; BLOCK * h];
    let (mut a2, mut dz2) = (vec![0.0f32; h], vec![0.0f32; h]);
    let scale = 2.0 / ts.len() as f32;
    let mut sse = 0.0f64;
    for (xb, tb) in xs.chunks(BLOCK * window).zip(ts.chunks(BLOCK)) {
        let rows = tb.len();
        // Forward through layer 1 for the block.
        for a in a1.chunks_exact_mut(h).take(rows) {
            a.copy_from_slice(&p[1]);
        }
        if rows == BLOCK {
            let [a_0, a_1, a_2, a_3] = split4(&mut a1, h);
            for (k, row) in p[0].chunks_exact(h).enumerate() {
                let (x0, x1, x2, x3) = (xb[k], xb[window + k], xb[2 * window + k], xb[3 * window + k]);
                let outs = a_0
                    .iter_mut()
                    .zip(a_1.iter_mut())
                    .zip(a_2.iter_mut().zip(a_3.iter_mut()));
                for (((o0, o1), (o2, o3)), &w) in outs.zip(row) {
                    *o0 += x0 * w;
                    *o1 += x1 * w;
                    *o2 += x2 * w;
                    *o3 += x3 * w;
                }
            }
        } else {
            for (a, x) in a1.chunks_exact_mut(h).zip(xb.chunks_exact(window)) {
                for (&xk, row) in x.iter().zip(p[0].chunks_exact(h)) {
                    axpy(a, xk, row);
                }
            }
        }
        a1.iter_mut().for_each(|a| *a = a.max(0.0));
        // The rest of the forward pass and the backward pass down to layer 1, per window.
        for ((a1, dz1), &t) in a1.chunks_exact(h).zip(dz1.chunks_exact_mut(h)).zip(tb) {
            a2.copy_from_slice(&p[3]);
            for (&ak, row) in a1.iter().zip(p[2].chunks_exact(h)) {
                if ak != 0.0 {
                    axpy(&mut a2, ak, row);
                }
            }
            a2.iter_mut().for_each(|a| *a = a.max(0.0));
            let pred = a2.iter().zip(&p[4]).map(|(a, w)| a * w).sum::<f32>() + p[5][0];
            let e = pred - t;
            sse += (e as f64) * (e as f64);
            let dp = scale * e;
            axpy(&mut g[4], dp, &a2);
            g[5][0] += dp;
            for ((d, &a), &w) in dz2.iter_mut().zip(&a2).zip(&p[4]) {
                *d = if a > 0.0 { dp * w } else { 0.0 };
            }
            axpy(&mut g[3], 1.0, &dz2);
            for (&ak, grow) in a1.iter().zip(g[2].chunks_exact_mut(h)) {
                if ak != 0.0 {
                    axpy(grow, ak, &dz2);
                }
            }
            dz1.fill(0.0);
            for (&dj, row) in dz2.iter().zip(w2.chunks_exact(h)) {
                if dj != 0.0 {
                    axpy(dz1, dj, row);
                }
            }
            for (d, &a) in dz1.iter_mut().zip(a1) {
                if a <= 0.0 {
                    *d = 0.0;
                }
            }
            axpy(&mut g[1], 1.0, dz1);
        }
        // Layer-1 weight gradient for the block (same per-element order as window by window).
        if rows == BLOCK {
            let [d0, d1, d2, d3] = [0, 1, 2, 3].map(|b| &dz1[b * h..(b + 1) * h]);
            for (k, grow) in g[0].chunks_exact_mut(h).enumerate() {
                let (x0, x1, x2, x3) = (xb[k], xb[window + k], xb[2 * window + k], xb[3 * window + k]);
                let ds = d0.iter().zip(d1).zip(d2.iter().zip(d3));
                for (gv, ((&v0, &v1), (&v2, &v3))) in grow.iter_mut().zip(ds) {
                    *gv = *gv + x0 * v0 + x1 * v1 + x2 * v2 + x3 * v3;
                }
            }
        } else {
            for (d, x) in dz1.chunks_exact(h).zip(xb.chunks_exact(window)) {
                for (&xk, grow) in x.iter().zip(g[0].chunks_exact_mut(h)) {
                    axpy(grow, xk, d);
                }
            }
        }
    }
    sse / ts.len() as f64
}

/// Windows per block in the layer-1 kernels of [`loss_and_grads`].
const BLOCK: usize = 4;

/// The four consecutive length-`h` rows of a `4·h` buffer.
fn split4(v: &mut [f32], h: usize) -> [&mut [f32]; 4] {
    let (a, rest) = v.split_at_mut(h);
    let (b, rest) = rest.split_at_mut(h);
    let (c, d) = rest.split_at_mut(h);
    [a, b, c, &mut d[..h]]
}

/// Learning rate at `epoch`: cosine decay from `LR` to `LR_FLOOR`·`LR`.
fn learning_rate(epoch: usize, epochs: usize) -> f64 {
    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs as f64).cos());
    LR * (LR_FLOOR + (1.0 - LR_FLOOR) * cosine)
}

/// Full-batch AdamW with a cosine learning-rate decay. Returns the trained net and the MSE
/// (normalized units) at each epoch, measured before that epoch's update.
///
/// This is plain Rust rather than candle autograd: in the dev profile candle and gemm are
/// built unoptimized and one candle epoch on 676 windows took ~36 ms (7 s for 200 epochs;
/// still ~3.5 ms per epoch with candle at opt-level 3), against ~0.5 ms here. The gradients are
/// checked against candle's autograd in the tests.
fn train(init: &Net, xs: &[f32], ts: &[f32], epochs: usize) -> (Net, Vec<f64>) {
    let (window, hidden) = (init.window, init.hidden);
    let mut p = to_train(init);
    let mut g = p.clone();
    let mut opt = AdamW::new(&p);
    let mut losses = Vec::with_capacity(epochs);
    for epoch in 0..epochs {
        losses.push(loss_and_grads(&p, window, hidden, xs, ts, &mut g));
        opt.step(&mut p, &g, learning_rate(epoch, epochs));
    }
    (from_train(&p, window, hidden), losses)
}

/// A trained (or restored) MLP conditioned on the last `window` values of a series.
pub struct FittedMlp {
    spec: ModelSpec,
    net: Net,
    mean: f64,
    std: f64,
    sigma: f64,
    last: Vec<f64>,
    losses: Vec<f64>,
}

impl FittedMlp {
    /// Training MSE (normalized units) per epoch, before that epoch's update; empty when restored.
    pub fn train_losses(&self) -> &[f64] {
        &self.losses
    }

    /// In-sample one-step residual RMS, in the units of the series.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
}

impl Fitted for FittedMlp {
    fn predict(&self, horizon: usize) -> Result<Forecast> {
        let mut buf: Vec<f32> = self.last.iter().map(|v| ((v - self.mean) / self.std) as f32).collect();
        let mut point = Vec::with_capacity(horizon);
        for _ in 0..horizon {
            let next = self.net.forward(&buf[buf.len() - self.net.window..]);
            buf.push(next);
            point.push(next as f64 * self.std + self.mean);
        }
        if point.iter().any(|v| !v.is_finite()) {
            return Err(err("recursive forecast diverged (non-finite values)"));
        }
        let sigma: Vec<f64> = (1..=horizon).map(|h| self.sigma * (h as f64).sqrt()).collect();
        Ok(Forecast::from_sigma(point, &sigma))
    }

    fn frozen_spec(&self) -> ModelSpec {
        self.spec.clone()
    }

    fn weights(&self) -> Option<Vec<u8>> {
        let shapes = Net::shapes(self.net.window, self.net.hidden);
        let mut entries: Vec<(String, &'static str, Vec<usize>, Vec<u8>)> = Vec::new();
        for (i, p) in self.net.params().iter().enumerate() {
            let kind = if i % 2 == 0 { "weight" } else { "bias" };
            let bytes = p.iter().flat_map(|v| v.to_le_bytes()).collect();
            entries.push((format!("{}.{kind}", LAYERS[i / 2]), "F32", shapes[i].clone(), bytes));
        }
        for (name, v) in [
            ("norm.mean", self.mean),
            ("norm.std", self.std),
            ("resid.sigma", self.sigma),
        ] {
            entries.push((name.to_string(), "F64", vec![1], v.to_le_bytes().to_vec()));
        }
        let metadata = [
            ("family", "mlp".to_string()),
            ("window", self.net.window.to_string()),
            ("hidden", self.net.hidden.to_string()),
        ];
        Some(safetensors_bytes(entries, &metadata))
    }
}

/// Serializes tensors in the safetensors format (8-byte little-endian header length, JSON
/// header padded with spaces to a multiple of 8, then the data in name order). candle 0.11
/// only writes safetensors to files, so the (simple) format is written here; it is read back
/// with `candle_core::safetensors::load_buffer`.
fn safetensors_bytes(mut entries: Vec<(String, &str, Vec<usize>, Vec<u8>)>, metadata: &[(&str, String)]) -> Vec<u8> {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut header = serde_json::Map::new();
    let meta: serde_json::Map<String, serde_json::Value> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.as_str())))
        .collect();
    header.insert("__metadata__".into(), meta.into());
    let mut offset = 0usize;
    for (name, dtype, shape, data) in &entries {
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": dtype, "shape": shape, "data_offsets": [offset, offset + data.len()] }),
        );
        offset += data.len();
    }
    let mut json = serde_json::Value::Object(header).to_string().into_bytes();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for (_, _, _, data) in &entries {
        out.extend_from_slice(data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;
    use std::time::Instant;

    fn sine(len: usize) -> Vec<f64> {
        (0..len).map(|t| 10.0 + 3.0 * (TAU * t as f64 / 24.0).sin()).collect()
    }

    fn noisy_sine(len: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..len)
            .map(|t| 10.0 + 3.0 * (TAU * t as f64 / 24.0).sin() + 0.3 * rng.normal())
            .collect()
    }

    #[test]
    fn training_loss_decreases() {
        let y = sine(400);
        let fitted = Mlp::new(24, 32, 200, 7).fit_mlp(&y).unwrap();
        let losses = fitted.train_losses();
        assert_eq!(losses.len(), 200);
        let (first, last) = (losses[0], losses[losses.len() - 1]);
        eprintln!("training loss {first:.4} -> {last:.6}");
        assert!(last < 0.5 * first, "loss {first} -> {last}");
    }

    #[test]
    fn seeded_fits_are_reproducible() {
        let y = noisy_sine(300, 1);
        let a = Mlp::new(24, 16, 60, 42).fit(&y).unwrap().predict(24).unwrap();
        let b = Mlp::new(24, 16, 60, 42).fit(&y).unwrap().predict(24).unwrap();
        assert_eq!(a, b);
        let c = Mlp::new(24, 16, 60, 43).fit(&y).unwrap().predict(24).unwrap();
        assert_ne!(a.point, c.point);
    }

    #[test]
    fn forecasts_a_sine_within_ten_percent() {
        let y = sine(700);
        let start = Instant::now();
        let fitted = Mlp::new(24, 32, 300, 0).fit(&y).unwrap();
        eprintln!(
            "fit 700 points, window 24, hidden 32, 300 epochs: {:?}",
            start.elapsed()
        );
        let f = fitted.predict(24).unwrap();
        let mut worst = 0.0f64;
        for (h, p) in f.point.iter().enumerate() {
            let t = (700 + h) as f64;
            let want = 10.0 + 3.0 * (TAU * t / 24.0).sin();
            let rel = (p - want).abs() / want;
            assert!(rel < 0.1, "h={h}: {p} vs {want}");
            worst = worst.max(rel);
        }
        eprintln!("worst relative error over 24 steps: {worst:.4}");
    }

    #[test]
    fn weights_round_trip_through_restore() {
        let y = noisy_sine(300, 2);
        let mlp = Mlp::new(24, 16, 80, 5);
        let fitted = mlp.fit(&y).unwrap();
        let bytes = fitted.weights().expect("mlp has weights");
        // Readable by candle as a plain safetensors file.
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
        assert_eq!(tensors.len(), 9);
        assert_eq!(tensors["l1.weight"].dims(), &[16, 24]);
        let restored = mlp.restore(&y, &bytes).unwrap();
        assert_eq!(restored.predict(30).unwrap(), fitted.predict(30).unwrap());
        assert_eq!(restored.frozen_spec(), fitted.frozen_spec());
        assert_eq!(restored.weights().unwrap(), bytes);
        // Through the spec, conditioned on a longer series: same as a fit's network on it.
        let spec = fitted.frozen_spec();
        let longer = noisy_sine(320, 2);
        let via_spec = spec.restore(&longer, Some(&bytes)).unwrap().predict(5).unwrap();
        let direct = mlp.restore(&longer, &bytes).unwrap().predict(5).unwrap();
        assert_eq!(via_spec, direct);
    }

    #[test]
    fn corrupt_weights_are_errors() {
        let y = noisy_sine(200, 4);
        let mlp = Mlp::new(12, 8, 10, 5);
        let bytes = mlp.fit(&y).unwrap().weights().unwrap();
        for cut in [0, 4, 8, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(mlp.restore(&y, &bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut garbage = Rng::new(9);
        let junk: Vec<u8> = (0..500).map(|_| garbage.next_u64() as u8).collect();
        assert!(mlp.restore(&y, &junk).is_err());
        let mut huge_header = bytes.clone();
        huge_header[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(mlp.restore(&y, &huge_header).is_err());
        // Valid safetensors, wrong shapes for this spec.
        let msg = Mlp::new(12, 16, 10, 5).restore(&y, &bytes).err().unwrap().to_string();
        assert!(msg.contains("l1.weight") && msg.contains("[8, 12]"), "{msg}");
        assert!(Mlp::new(10, 8, 10, 5).restore(&y, &bytes).is_err());
        // Invalid constants.
        let mut fitted = mlp.fit_mlp(&y).unwrap();
        fitted.sigma = f64::NAN;
        assert!(mlp.restore(&y, &fitted.weights().unwrap()).is_err());
        // Missing tensor.
        let partial = safetensors_bytes(vec![("l1.weight".into(), "F32", vec![1], vec![0; 4])], &[]);
        let msg = mlp.restore(&y, &partial).err().unwrap().to_string();
        assert!(msg.contains("l1.weight"), "{msg}");
        let msg = mlp.restore(&y, &[]).err().unwrap().to_string();
        assert!(msg.contains("mlp"), "{msg}");
        // Too little history to condition on.
        assert!(mlp.restore(&y[..5], &bytes).is_err());
    }

    #[test]
    fn intervals_are_ordered_and_widen() {
        let y = noisy_sine(300, 6);
        let f = Mlp::new(24, 16, 100, 3).fit(&y).unwrap().predict(12).unwrap();
        assert!(!f.has_non_finite());
        for h in 0..12 {
            assert!(f.lower_95[h] < f.lower_80[h] && f.lower_80[h] < f.point[h], "h={h}");
            assert!(f.point[h] < f.upper_80[h] && f.upper_80[h] < f.upper_95[h], "h={h}");
            if h > 0 {
                let (w0, w1) = (f.upper_95[h - 1] - f.lower_95[h - 1], f.upper_95[h] - f.lower_95[h]);
                assert!(w1 > w0, "h={h}: {w0} -> {w1}");
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let msg = Mlp::new(24, 8, 10, 0).fit(&sine(31)).err().unwrap().to_string();
        assert!(msg.contains("32") && msg.contains("31"), "{msg}");
        assert!(Mlp::new(24, 8, 10, 0).fit(&sine(32)).is_ok());
        assert!(Mlp::new(0, 8, 10, 0).fit(&sine(50)).is_err());
        assert!(Mlp::new(4, 0, 10, 0).fit(&sine(50)).is_err());
        assert!(Mlp::new(4, 8, 0, 0).fit(&sine(50)).is_err());
        assert!(Mlp::new(4, 1 << 20, 10, 0).fit(&sine(50)).is_err());
        assert!(Mlp::new(usize::MAX - 1, 8, 10, 0).fit(&sine(50)).is_err());
        let mut y = sine(50);
        y[7] = f64::NAN;
        assert!(Mlp::new(4, 8, 10, 0).fit(&y).is_err());
        // A constant series fits (std falls back to 1) and forecasts finitely.
        let f = Mlp::new(4, 8, 20, 0).fit(&[5.0; 40]).unwrap().predict(6).unwrap();
        assert!(!f.has_non_finite());
        assert!(
            Mlp::new(4, 8, 10, 0)
                .fit(&[1e300, -1e300, 1e300, -1e300].repeat(10))
                .is_err()
        );
    }

    /// candle autograd over the same network, as the reference for the hand-written backward pass.
    fn candle_vars(net: &Net) -> Vec<candle_core::Var> {
        Net::shapes(net.window, net.hidden)
            .iter()
            .zip(net.params())
            .map(|(s, p)| candle_core::Var::from_slice(p.as_slice(), s.as_slice(), &Device::Cpu).unwrap())
            .collect()
    }

    fn candle_loss(vars: &[candle_core::Var], xs: &[f32], ts: &[f32], window: usize) -> Tensor {
        let n = ts.len();
        let x = Tensor::from_slice(xs, (n, window), &Device::Cpu).unwrap();
        let t = Tensor::from_slice(ts, (n, 1), &Device::Cpu).unwrap();
        let h1 = x
            .matmul(&vars[0].t().unwrap())
            .unwrap()
            .broadcast_add(&vars[1])
            .unwrap()
            .relu()
            .unwrap();
        let h2 = h1
            .matmul(&vars[2].t().unwrap())
            .unwrap()
            .broadcast_add(&vars[3])
            .unwrap()
            .relu()
            .unwrap();
        let p = h2
            .matmul(&vars[4].t().unwrap())
            .unwrap()
            .broadcast_add(&vars[5])
            .unwrap();
        candle_nn::loss::mse(&p, &t).unwrap()
    }

    fn training_data(y: &[f64], window: usize) -> (Vec<f32>, Vec<f32>) {
        let mut xs = Vec::new();
        for i in 0..y.len() - window {
            xs.extend(y[i..i + window].iter().map(|v| *v as f32));
        }
        (xs, y[window..].iter().map(|v| *v as f32).collect())
    }

    #[test]
    fn gradients_match_candle_autograd() {
        let y: Vec<f64> = noisy_sine(120, 8).iter().map(|v| (v - 10.0) / 2.0).collect();
        let (window, hidden) = (12, 16);
        let (xs, ts) = training_data(&y, window);
        let net = Net::init(window, hidden, &mut Rng::new(3));
        let mut g = to_train(&net);
        let loss = loss_and_grads(&to_train(&net), window, hidden, &xs, &ts, &mut g);
        let vars = candle_vars(&net);
        let reference = candle_loss(&vars, &xs, &ts, window);
        let want_loss = reference.to_scalar::<f32>().unwrap() as f64;
        assert!(
            (loss - want_loss).abs() < 1e-5 * want_loss.max(1.0),
            "{loss} vs {want_loss}"
        );
        let grads = reference.backward().unwrap();
        let ours = from_train(&g, window, hidden);
        for (i, (var, got)) in vars.iter().zip(ours.params()).enumerate() {
            let want = grads.get(var).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-4 * scale, "param {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn simd_dispatch_is_bit_identical_to_generic() {
        let y: Vec<f64> = noisy_sine(103, 10).iter().map(|v| (v - 10.0) / 2.0).collect();
        let (window, hidden) = (10, 12);
        let (xs, ts) = training_data(&y, window); // 93 windows: 23 blocks of 4 and a remainder
        let p = to_train(&Net::init(window, hidden, &mut Rng::new(5)));
        let (mut g1, mut g2) = (p.clone(), p.clone());
        let l1 = loss_and_grads(&p, window, hidden, &xs, &ts, &mut g1);
        let l2 = loss_and_grads_generic(&p, window, hidden, &xs, &ts, &mut g2);
        assert_eq!(l1.to_bits(), l2.to_bits());
        assert_eq!(g1, g2);
    }

    #[test]
    fn adamw_trajectory_matches_candle_nn() {
        use candle_nn::Optimizer;
        let y: Vec<f64> = noisy_sine(100, 9).iter().map(|v| (v - 10.0) / 2.0).collect();
        let (window, hidden, epochs) = (8, 8, 15);
        let (xs, ts) = training_data(&y, window);
        let net = Net::init(window, hidden, &mut Rng::new(4));
        let (_, ours) = train(&net, &xs, &ts, epochs);
        let vars = candle_vars(&net);
        let params = candle_nn::ParamsAdamW {
            lr: LR,
            weight_decay: WEIGHT_DECAY,
            ..Default::default()
        };
        let mut opt = candle_nn::AdamW::new(vars.clone(), params).unwrap();
        for (epoch, got) in ours.iter().enumerate() {
            opt.set_learning_rate(learning_rate(epoch, epochs));
            let loss = candle_loss(&vars, &xs, &ts, window);
            let want = loss.to_scalar::<f32>().unwrap() as f64;
            assert!((got - want).abs() < 1e-3 * want, "epoch {epoch}: {got} vs {want}");
            opt.backward_step(&loss).unwrap();
        }
    }

    #[test]
    fn frozen_spec_is_the_spec() {
        let spec = ModelSpec::Mlp {
            window: 8,
            hidden: 4,
            epochs: 5,
            seed: 11,
        };
        assert_eq!(spec.fit(&sine(60)).unwrap().frozen_spec(), spec);
    }
}
