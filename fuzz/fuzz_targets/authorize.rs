#![no_main]
//! See `latchkey::fuzzing::authorize` for what this checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey::fuzzing::authorize(data));
