//! Statistical, seeded tests of the isolation forest.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// A standard normal draw (Box–Muller), so tests need no extra crate.
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Cluster centres: the origin and (4, 4, …), unit variance in each of the 6 features.
const CENTRES: [f64; 2] = [0.0, 4.0];
const D: usize = 6;

/// `n` clean points drawn from the two clusters; also returns each point's cluster.
fn clusters(rng: &mut StdRng, n: usize) -> (Vec<Vec<f64>>, Vec<usize>) {
    let mut rows = Vec::with_capacity(n);
    let mut which = Vec::with_capacity(n);
    for _ in 0..n {
        let k = rng.gen_range(0..CENTRES.len());
        rows.push((0..D).map(|_| CENTRES[k] + normal(rng)).collect());
        which.push(k);
    }
    (rows, which)
}

/// Clean points pushed `sigmas` away from all training data in `features` (outwards from the other
/// cluster).
fn outliers_at(rng: &mut StdRng, n: usize, features: &[usize], sigmas: f64) -> Vec<Vec<f64>> {
    let (mut rows, which) = clusters(rng, n);
    for (row, k) in rows.iter_mut().zip(which) {
        let direction = if k == 0 { -1.0 } else { 1.0 };
        for &f in features {
            row[f] = CENTRES[k] + direction * sigmas;
        }
    }
    rows
}

/// Outliers 6σ out in `features`.
fn outliers(rng: &mut StdRng, n: usize, features: &[usize]) -> Vec<Vec<f64>> {
    outliers_at(rng, n, features, 6.0)
}

fn fit(rows: &[Vec<f64>], seed: u64) -> IsolationForest {
    IsolationForestParams::new().trees(100).sample_size(256).seed(Some(seed)).check().unwrap().fit(rows).unwrap()
}

fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn fraction_above(model: &IsolationForest, rows: &[Vec<f64>], threshold: f64) -> f64 {
    rows.iter().filter(|r| model.score(r) > threshold).count() as f64 / rows.len() as f64
}

#[test]
fn flags_injected_outliers_and_spares_clean_points() {
    let mut rng = StdRng::seed_from_u64(11);
    let (train, _) = clusters(&mut rng, 5000);
    let model = fit(&train, 42);
    let threshold = quantile(train.iter().map(|r| model.score(r)).collect(), 0.99);

    let (held_out, _) = clusters(&mut rng, 2000);
    let clean = fraction_above(&model, &held_out, threshold);
    assert!(clean <= 0.02, "{:.2} % of clean held-out points flagged", clean * 100.0);

    // 6σ out in two of six features, or 12σ out in one.
    for (features, sigmas) in [(&[1, 4][..], 6.0), (&[0, 5], 6.0), (&[0], 12.0), (&[3], 12.0)] {
        let bad = outliers_at(&mut rng, 500, features, sigmas);
        let flagged = fraction_above(&model, &bad, threshold);
        assert!(flagged >= 0.95, "only {:.1} % of {sigmas}σ outliers in {features:?} flagged", flagged * 100.0);
    }
    // 6σ in a single feature of six is harder for any axis-aligned forest: ~70 % measured.
    let flagged = fraction_above(&model, &outliers(&mut rng, 500, &[2]), threshold);
    assert!(flagged >= 0.5, "only {:.1} % of 6σ single-feature outliers flagged", flagged * 100.0);
    for r in held_out.iter().take(200) {
        let s = model.score(r);
        assert!((0.0..=1.0).contains(&s), "score {s} out of [0, 1]");
    }
}

/// Pins the saturation of classic isolation forests: a point far beyond the training range in one
/// feature scored no higher than the most extreme training point.
#[test]
fn range_aware_scores_keep_rising_beyond_the_training_range() {
    let mut rng = StdRng::seed_from_u64(19);
    let (train, _) = clusters(&mut rng, 5000);
    let params = IsolationForestParams::new().seed(Some(4));
    let classic = params.range_aware(false).check().unwrap().fit(&train).unwrap();
    let aware = params.check().unwrap().fit(&train).unwrap();
    assert!(aware.is_range_aware() && !classic.is_range_aware());
    let bad = outliers_at(&mut rng, 500, &[1], 10.0);
    for (model, low, high) in [(&classic, 0.0, 0.3), (&aware, 0.8, 1.0)] {
        let threshold = quantile(train.iter().map(|r| model.score(r)).collect(), 0.99);
        let flagged = fraction_above(model, &bad, threshold);
        assert!((low..=high).contains(&flagged), "range-aware {}: {flagged}", model.is_range_aware());
    }
    let x = &bad[0];
    let mut further = x.clone();
    further[1] += 10.0 * (x[1] - 2.0).signum();
    assert!(aware.score(&further) > aware.score(x), "further out scores higher");
    assert_eq!(classic.score(&further), classic.score(x), "classic saturates");
    // Points of a tree's own sample are inside every range: identical path lengths either way.
    let tiny: Vec<Vec<f64>> = train[..200].to_vec();
    let p = IsolationForestParams::new().sample_size(256).seed(Some(3));
    let (c, a) = (p.range_aware(false).check().unwrap().fit(&tiny).unwrap(), p.check().unwrap().fit(&tiny).unwrap());
    for r in &tiny {
        assert!((c.average_path_length(r) - a.average_path_length(r)).abs() < 1e-9);
    }
}

#[test]
fn explain_credits_the_feature_that_drove_the_outlier() {
    let mut rng = StdRng::seed_from_u64(12);
    let (train, _) = clusters(&mut rng, 3000);
    let model = fit(&train, 7);
    let mut right = 0;
    let trials = 200;
    for t in 0..trials {
        let f = t % D;
        let x = &outliers(&mut rng, 1, &[f])[0];
        let shares = model.explain(x);
        assert_eq!(shares.len(), D);
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{shares:?}");
        assert!(shares.iter().all(|s| (0.0..=1.0).contains(s)), "{shares:?}");
        let top = (0..D).max_by(|&a, &b| shares[a].total_cmp(&shares[b])).unwrap();
        right += usize::from(top == f);
    }
    assert!(right as f64 >= 0.95 * trials as f64, "driving feature ranked first in {right}/{trials}");
}

#[test]
fn explain_splits_credit_between_two_driving_features() {
    let mut rng = StdRng::seed_from_u64(13);
    let (train, _) = clusters(&mut rng, 3000);
    let model = fit(&train, 8);
    let x = &outliers(&mut rng, 1, &[1, 4])[0];
    let shares = model.explain(x);
    assert!(shares[1] + shares[4] > 0.7, "{shares:?}");
    assert!(shares[1] > 0.2 && shares[4] > 0.2, "{shares:?}");
}

#[test]
fn same_seed_gives_identical_scores_and_another_seed_differs() {
    let mut rng = StdRng::seed_from_u64(14);
    let (train, _) = clusters(&mut rng, 1000);
    let (a, b, other) = (fit(&train, 5), fit(&train, 5), fit(&train, 6));
    assert_eq!(a, b);
    let probe = &train[..100];
    let bits = |m: &IsolationForest| probe.iter().map(|r| m.score(r).to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
    assert_ne!(bits(&a), bits(&other));
}

#[test]
fn fit_array_matches_fit_on_vectors() {
    let mut rng = StdRng::seed_from_u64(15);
    let (train, _) = clusters(&mut rng, 500);
    let flat: Vec<f64> = train.iter().flatten().copied().collect();
    let array = ndarray::Array2::from_shape_vec((train.len(), D), flat).unwrap();
    let params = IsolationForestParams::new().seed(Some(3)).check().unwrap();
    // A column-major view too: the layout must not matter.
    let fortran = array.t().to_owned();
    assert_eq!(params.fit_array(array.view()).unwrap(), params.fit(&train).unwrap());
    assert_eq!(params.fit_array(fortran.t()).unwrap(), params.fit(&train).unwrap());
}

#[test]
fn serde_round_trip_scores_bit_identically() {
    let mut rng = StdRng::seed_from_u64(16);
    let (train, _) = clusters(&mut rng, 2000);
    let model = fit(&train, 9);
    let json = serde_json::to_string(&model).unwrap();
    let back: IsolationForest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, model);
    let (probe, _) = clusters(&mut rng, 300);
    for r in probe.iter().chain(&outliers(&mut rng, 50, &[2])) {
        assert_eq!(back.score(r).to_bits(), model.score(r).to_bits());
        assert_eq!(back.explain(r), model.explain(r));
    }
}

#[test]
fn corrupt_model_json_is_an_error_not_a_panic() {
    let mut rng = StdRng::seed_from_u64(17);
    let (train, _) = clusters(&mut rng, 300);
    let model = IsolationForestParams::new().trees(3).seed(Some(1)).check().unwrap().fit(&train).unwrap();
    let mut v = serde_json::to_value(&model).unwrap();
    let good = v.clone();
    v["child"][0] = serde_json::json!(999_999);
    assert!(serde_json::from_value::<IsolationForest>(v).is_err(), "child out of range");
    let mut v = good.clone();
    v["feature"][0] = serde_json::json!(17);
    assert!(serde_json::from_value::<IsolationForest>(v).is_err(), "feature out of range");
    let mut v = good.clone();
    v["roots"] = serde_json::json!([0, 0]);
    assert!(serde_json::from_value::<IsolationForest>(v).is_err(), "shared tree");
    let mut v = good;
    v["value"].as_array_mut().unwrap().pop();
    let err = serde_json::from_value::<IsolationForest>(v).unwrap_err();
    assert!(err.to_string().contains("differ in length"), "{err}");
}

#[test]
fn non_finite_or_wrong_length_input_does_not_panic() {
    let mut rng = StdRng::seed_from_u64(18);
    let (train, _) = clusters(&mut rng, 500);
    let model = fit(&train, 1);
    let mut x = train[0].clone();
    x[2] = f64::NAN;
    assert_eq!(model.score(&x), 1.0, "NaN isolates immediately");
    assert_eq!(model.average_path_length(&x), 0.0);
    let shares = model.explain(&x);
    assert_eq!(shares[2], 1.0, "{shares:?}");
    x[2] = f64::NEG_INFINITY;
    assert_eq!(model.score(&x), 1.0);
    assert!(model.score(&[1.0, 2.0]).is_nan());
    assert!(model.explain(&[1.0]).is_empty());
    assert_eq!(model.n_features(), D);
}

#[test]
fn tiny_or_degenerate_training_sets_fit_and_score() {
    let params = IsolationForestParams::new().seed(Some(2)).check().unwrap();
    // Fewer rows than sample_size: every tree uses all of them.
    let few: Vec<Vec<f64>> = (0..20).map(|i| vec![i as f64, (i % 3) as f64]).collect();
    let m = params.fit(&few).unwrap();
    assert_eq!(m.sample_size(), 20);
    assert!(m.score(&[1000.0, 1.0]) > m.score(&[10.0, 1.0]), "a far point is more isolated");
    // One row: no information, neutral score.
    let m = params.fit(&[vec![1.0, 2.0, 3.0]]).unwrap();
    assert_eq!(m.score(&[1.0, 2.0, 3.0]), 0.5);
    assert_eq!(m.explain(&[5.0, 2.0, 3.0]), vec![1.0 / 3.0; 3]);
    // All identical rows: every tree is a single leaf.
    let same = vec![vec![4.0, 4.0]; 1000];
    let m = params.fit(&same).unwrap();
    assert!((m.score(&[4.0, 4.0]) - 0.5).abs() < 1e-12);
    assert!(m.score(&[-9.0, 40.0]).is_finite());
    // Two distinct rows.
    let m = params.fit(&[vec![0.0], vec![1.0]]).unwrap();
    assert!((0.0..=1.0).contains(&m.score(&[0.5])));
}

#[test]
fn absurdly_far_values_score_as_isolated_without_overflow() {
    let mut rng = StdRng::seed_from_u64(20);
    let (train, _) = clusters(&mut rng, 2000);
    let model = fit(&train, 12);
    let far = vec![1e300, -1e300, 1e300, 0.0, 1e-300, f64::MAX];
    let s = model.score(&far);
    assert!(s.is_finite() && s > 0.9, "{s}");
    let shares = model.explain(&far);
    assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9 && shares[3] < 0.1, "{shares:?}");
}
