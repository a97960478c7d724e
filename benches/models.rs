//! Fit and score throughput of the detection models.
//!
//! - `forest_fit` / `forest_score`: our isolation forest (range-aware, the default, and classic)
//!   vs `extended-isolation-forest` 0.2 at extension level 0, same data (6 features, 10,000
//!   training points, 100 trees, 256 samples). `forest_explain`: per-feature attribution.
//!   Both are scored through the [`OutlierModel`] trait (the adapter for the external crate lives
//!   here, not in `src/`).
//! - `svm_fit`: one-class SVM fit at 500, 1,000 and 2,000 points, 1-D and 2-D.
//! - `svm_decision`: decision-function throughput.
//!
//! Run: `cargo bench --bench models` (add `-- forest` to run a subset).

use std::hint::black_box;
use std::time::Duration;

use anomaly_detector::detect::forest::{IsolationForestParams, OutlierModel};
use anomaly_detector::detect::svm::OneClassSvmParams;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use extended_isolation_forest::{Forest, ForestOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const D: usize = 6;
const TRAIN: usize = 10_000;

/// `extended-isolation-forest` behind our trait: its feature count is fixed at compile time.
struct ExtendedForest(Forest<f64, D>);

impl OutlierModel for ExtendedForest {
    fn score(&self, x: &[f64]) -> f64 {
        match <&[f64; D]>::try_from(x) {
            Ok(x) => self.0.score(x),
            Err(_) => f64::NAN,
        }
    }

    fn n_features(&self) -> usize {
        D
    }
}

fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Two Gaussian clusters in 6-D, as `[f64; 6]` (what the external crate takes).
fn data(n: usize, seed: u64) -> Vec<[f64; D]> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let centre = if rng.gen() { 0.0 } else { 4.0 };
            std::array::from_fn(|_| centre + normal(&mut rng))
        })
        .collect()
}

fn extended_options() -> ForestOptions {
    ForestOptions { n_trees: 100, sample_size: 256, max_tree_depth: None, extension_level: 0 }
}

fn forest(c: &mut Criterion) {
    let train = data(TRAIN, 1);
    let probe = data(10_000, 2);
    let ours_params = IsolationForestParams::new().trees(100).sample_size(256).seed(Some(42)).check().unwrap();

    let mut fit = c.benchmark_group("forest_fit");
    fit.sample_size(20);
    fit.bench_function("ours", |b| b.iter(|| ours_params.fit(black_box(&train)).unwrap()));
    fit.bench_function("extended_isolation_forest", |b| {
        b.iter(|| Forest::<f64, D>::from_slice(black_box(&train), &extended_options()).unwrap())
    });
    fit.finish();

    let ours = ours_params.fit(&train).unwrap();
    let classic = IsolationForestParams::new().seed(Some(42)).range_aware(false).check().unwrap().fit(&train).unwrap();
    let theirs = ExtendedForest(Forest::from_slice(&train, &extended_options()).unwrap());
    let mut score = c.benchmark_group("forest_score");
    score.throughput(Throughput::Elements(probe.len() as u64));
    score.sample_size(20);
    let models = [
        ("ours_range_aware", &ours as &dyn OutlierModel),
        ("ours_classic", &classic),
        ("extended_isolation_forest", &theirs),
    ];
    for (name, model) in models {
        score.bench_function(name, |b| b.iter(|| probe.iter().map(|x| model.score(black_box(x))).sum::<f64>()));
    }
    score.finish();

    let mut explain = c.benchmark_group("forest_explain");
    explain.throughput(Throughput::Elements(1000));
    explain.sample_size(20);
    explain.bench_function("ours_range_aware", |b| {
        b.iter(|| probe[..1000].iter().map(|x| ours.explain(black_box(x))[0]).sum::<f64>())
    });
    explain.finish();
}

/// Lognormal, response-time-like rows of `d` features.
fn svm_rows(n: usize, d: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| (0..d).map(|_| (0.5 * normal(&mut rng)).exp()).collect()).collect()
}

fn svm(c: &mut Criterion) {
    let mut fit = c.benchmark_group("svm_fit");
    fit.sample_size(10);
    fit.measurement_time(Duration::from_secs(8));
    for d in [1, 2] {
        for n in [500, 1000, 2000] {
            let rows = svm_rows(n, d, 3);
            let params = OneClassSvmParams::new()
                .nu(0.05)
                .kernel_width(2.0)
                .max_training_points(n)
                .seed(Some(1))
                .check()
                .unwrap();
            fit.bench_with_input(BenchmarkId::new(format!("{d}d"), n), &rows, |b, rows| {
                b.iter(|| params.fit(black_box(rows)).unwrap())
            });
        }
    }
    fit.finish();

    let mut decision = c.benchmark_group("svm_decision");
    let probe = svm_rows(10_000, 2, 4);
    decision.throughput(Throughput::Elements(probe.len() as u64));
    for n in [1000, 2000] {
        let model = OneClassSvmParams::new()
            .nu(0.05)
            .kernel_width(2.0)
            .max_training_points(n)
            .seed(Some(1))
            .check()
            .unwrap()
            .fit(&svm_rows(n, 2, 3))
            .unwrap();
        let name = format!("2d_{n}_points_{}_support_vectors", model.n_support());
        decision.bench_function(name, |b| b.iter(|| probe.iter().map(|x| model.decision(black_box(x))).sum::<f64>()));
    }
    decision.finish();
}

criterion_group!(benches, forest, svm);
criterion_main!(benches);
