//! The inputs the fuzzers found or were seeded with, kept in
//! `fuzz/regressions/<target>/` and replayed on every `cargo test` through the
//! same checks the fuzz targets run (`fuzz/checks.rs`). A new crash input
//! dropped into one of those folders becomes a regression test by itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

#[path = "../../../fuzz/checks.rs"]
mod checks;

fn replay(target: &str, check: Check) {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut replayed = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| check(&input)) {
            panic!("{} no longer passes: {panic:?}", path.display());
        }
        replayed += 1;
    }
    assert!(replayed > 0, "no inputs in {}", folder.display());
}

/// What a fuzz target checks of one input.
type Check = fn(&[u8]);

/// Each fuzz target's folder, with the check its target runs.
const TARGETS: [(&str, Check); 4] = [
    ("token_response", checks::token_response),
    ("retry_after", checks::retry_after),
    ("paging", checks::paging),
    ("url_policy", checks::url_policy),
];

#[test]
fn every_fuzz_target_replays_cleanly() {
    for (target, check) in TARGETS {
        replay(target, check);
    }
}
