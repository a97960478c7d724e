//! Shared test helpers: the fake Loki, driving the real binary, and small utilities.
#![allow(dead_code)]

pub mod daemon;
pub mod fake_loki;
pub mod logql;

use std::path::Path;

/// Path of a recorded Loki fixture.
pub fn fixture_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/loki").join(name)
}

/// Contents of a recorded Loki fixture.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}
