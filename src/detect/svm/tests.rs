//! Statistical, seeded tests of the one-class SVM.

use linfa::prelude::*;
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::algorithm::fit_linfa;
use super::*;
use crate::detect::forest::OutlierModel;

fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Response-time-like 1-D data: lognormal, median 1, right-skewed.
fn lognormal_rows(rng: &mut StdRng, n: usize) -> Vec<Vec<f64>> {
    (0..n).map(|_| vec![(0.5 * normal(rng)).exp()]).collect()
}

/// At most 500 training points: linfa's solver is generic, so it is compiled at the test profile's
/// opt-level (the fit is ~60× slower than in release).
fn params(nu: f64, width: f64, seed: u64) -> OneClassSvmValidParams {
    OneClassSvmParams::new().nu(nu).kernel_width(width).max_training_points(500).seed(Some(seed)).check().unwrap()
}

fn outside_fraction(model: &OneClassSvm, rows: &[Vec<f64>]) -> f64 {
    rows.iter().filter(|r| model.decision(r) < 0.0).count() as f64 / rows.len() as f64
}

#[test]
fn one_dimensional_lognormal_learns_the_bulk() {
    let mut rng = StdRng::seed_from_u64(21);
    let train = lognormal_rows(&mut rng, 3000);
    let nu = 0.05;
    let model = params(nu, 0.5, 1).fit(&train).unwrap();
    assert_eq!(model.training_points(), 500, "subsampled to max_training_points");
    for central in [0.8, 1.0, 1.3] {
        assert!(model.decision(&[central]) > 0.0, "central {central} outside");
        assert!(model.score(&[central]) < 0.5);
    }
    for far in [-3.0, 8.0, 50.0] {
        assert!(model.decision(&[far]) < 0.0, "far {far} inside");
        assert!(model.score(&[far]) > 0.5);
    }
    assert!(model.score(&[50.0]) > model.score(&[8.0]), "score grows with distance");
    // nu-property: about nu of the training points fall outside, and a little more of new data.
    let records = params(nu, 0.5, 1).training_set(&train).unwrap();
    let fitted: Vec<Vec<f64>> = records.rows().into_iter().map(|r| r.to_vec()).collect();
    let outside = outside_fraction(&model, &fitted);
    assert!((outside - nu).abs() <= 0.02, "{:.1} % of training points outside, nu = {nu}", outside * 100.0);
    let held_out = outside_fraction(&model, &lognormal_rows(&mut rng, 5000));
    assert!(held_out < 2.5 * nu, "{:.1} % of held-out points outside, nu = {nu}", held_out * 100.0);
    assert!(model.n_support() as f64 >= nu * 500.0 * 0.9, "nu bounds the support vector fraction from below");
}

#[test]
fn two_dimensional_blob_rejects_points_around_it() {
    let mut rng = StdRng::seed_from_u64(22);
    let train: Vec<Vec<f64>> = (0..500).map(|_| vec![normal(&mut rng), 3.0 + 0.5 * normal(&mut rng)]).collect();
    let model = params(0.02, 2.0, 2).fit(&train).unwrap();
    assert!(model.decision(&[0.0, 3.0]) > 0.0);
    for far in [[6.0, 3.0], [-6.0, 3.0], [0.0, 7.0], [0.0, -1.0], [4.0, 5.0]] {
        assert!(model.decision(&far) < 0.0, "{far:?} inside");
    }
    let held_out: Vec<Vec<f64>> = (0..3000).map(|_| vec![normal(&mut rng), 3.0 + 0.5 * normal(&mut rng)]).collect();
    let outside = outside_fraction(&model, &held_out);
    assert!(outside < 0.05, "{:.1} % of clean held-out points outside", outside * 100.0);
    let shifted: Vec<Vec<f64>> = held_out.iter().map(|r| vec![r[0] + 6.0, r[1]]).collect();
    assert!(outside_fraction(&model, &shifted) > 0.95);
}

#[test]
fn decision_agrees_with_linfa_on_training_and_new_points() {
    let mut rng = StdRng::seed_from_u64(23);
    let rows: Vec<Vec<f64>> = (0..400).map(|_| vec![normal(&mut rng), normal(&mut rng).abs()]).collect();
    let p = params(0.1, 1.0, 3);
    let records = p.training_set(&rows).unwrap();
    let svm = fit_linfa(&p, &records).unwrap();
    let ours = OneClassSvm::from_linfa(&svm, &records, p.kernel_width());
    assert_eq!(ours.n_support(), svm.nsupport());
    assert_eq!(ours, p.fit(&rows).unwrap(), "fit = the same steps");
    let linfa_inside: ndarray::Array1<bool> = svm.predict(&records);
    let probes = Array2::from_shape_fn((200, 2), |(i, j)| (i as f64 - 100.0) / 20.0 + j as f64);
    let mut checked = 0;
    for (i, row) in records.rows().into_iter().enumerate() {
        let theirs = svm.weighted_sum(&row) - svm.rho;
        let mine = ours.decision(row.as_slice().unwrap());
        assert!((mine - theirs).abs() < 1e-9, "row {i}: {mine} vs {theirs}");
        assert_eq!(mine >= 0.0, linfa_inside[i], "row {i}");
        checked += 1;
    }
    for row in probes.rows() {
        let theirs = svm.weighted_sum(&row) - svm.rho;
        assert!((ours.decision(&row.to_vec()) - theirs).abs() < 1e-9);
    }
    assert_eq!(checked, 400);
    assert!(linfa_inside.iter().any(|b| !b), "some training points outside, so the sign check means something");
}

#[test]
fn serde_round_trip_decides_bit_identically() {
    let mut rng = StdRng::seed_from_u64(24);
    let train = lognormal_rows(&mut rng, 600);
    let model = params(0.05, 0.5, 4).fit(&train).unwrap();
    let json = serde_json::to_string(&model).unwrap();
    let back: OneClassSvm = serde_json::from_str(&json).unwrap();
    assert_eq!(back, model);
    for x in lognormal_rows(&mut rng, 200).iter().chain(&[vec![40.0], vec![-1.0]]) {
        assert_eq!(back.decision(x).to_bits(), model.decision(x).to_bits());
    }
    let mut v = serde_json::to_value(&model).unwrap();
    v["support_vectors"].as_array_mut().unwrap().push(serde_json::json!(1.0));
    assert!(serde_json::from_value::<OneClassSvm>(v).is_err(), "mismatched support vectors");
}

#[test]
fn subsample_is_seeded_and_duplicates_are_dropped() {
    let mut rng = StdRng::seed_from_u64(25);
    let train = lognormal_rows(&mut rng, 800);
    assert_eq!(params(0.05, 0.5, 9).fit(&train).unwrap(), params(0.05, 0.5, 9).fit(&train).unwrap());
    assert_ne!(params(0.05, 0.5, 9).fit(&train).unwrap(), params(0.05, 0.5, 10).fit(&train).unwrap());
    // Status-like discrete rows: 3 distinct points repeated 3000 times.
    let discrete: Vec<Vec<f64>> = (0..3000).map(|i| vec![(i % 3) as f64, 0.0]).collect();
    let model = params(0.05, 2.0, 1).fit(&discrete).unwrap();
    assert_eq!(model.training_points(), 3);
    assert!(model.decision(&[1.0, 0.0]) >= 0.0 || model.decision(&[0.0, 0.0]) >= 0.0);
    assert!(model.decision(&[10.0, 5.0]) < 0.0);
    let no_dedup = OneClassSvmParams::new().deduplicate(false).max_training_points(60).seed(Some(1)).check();
    assert_eq!(no_dedup.unwrap().fit(&discrete).unwrap().training_points(), 60);
}

#[test]
fn bad_input_is_an_error_or_a_defined_value_never_a_panic() {
    let p = params(0.05, 1.0, 1);
    let empty: Vec<Vec<f64>> = vec![];
    assert_eq!(p.fit(&empty).unwrap_err().label(), "empty");
    assert_eq!(p.fit(&[Vec::<f64>::new()]).unwrap_err().label(), "no_features");
    assert_eq!(p.fit(&[vec![1.0], vec![1.0, 2.0]]).unwrap_err().label(), "dimension_mismatch");
    let err = p.fit(&[vec![1.0], vec![f64::NAN]]).unwrap_err();
    assert!(matches!(err, SvmError::NonFinite { row: 1, column: 0 }), "{err}");
    for bad in [OneClassSvmParams::new().nu(0.0), OneClassSvmParams::new().kernel_width(-1.0)] {
        assert_eq!(bad.check().unwrap_err().label(), "invalid_params");
    }
    assert!(OneClassSvmParams::new().max_training_points(0).check().is_err());
    // A single training row fits.
    let one = p.fit(&[vec![2.0]]).unwrap();
    assert!(one.decision(&[2.0]) >= 0.0 && one.decision(&[30.0]) < 0.0);
    let model = p.fit(&lognormal_rows(&mut StdRng::seed_from_u64(3), 300)).unwrap();
    assert!(model.decision(&[f64::NAN]) < 0.0, "NaN is outside");
    assert_eq!(model.score(&[f64::INFINITY]), 1.0);
    assert!(model.decision(&[1.0, 2.0]).is_nan() && model.score(&[]).is_nan());
    assert_eq!(model.n_features(), 1);
}
