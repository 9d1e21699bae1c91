//! Fuzzes `checks::token_response`; see `fuzz/checks.rs` for what it checks.
#![no_main]

#[allow(dead_code)] // each target uses one of the checks
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::token_response(data));
