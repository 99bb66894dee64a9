#![no_main]
//! See `latchkey::fuzzing::token` for what this checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey::fuzzing::token(data));
