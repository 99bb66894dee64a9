#![no_main]
//! See `latchkey::fuzzing::image` for what this checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey::fuzzing::image(data));
