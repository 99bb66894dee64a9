#![no_main]
//! See `latchkey::fuzzing::jwt` for what this checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey::fuzzing::jwt(data));
