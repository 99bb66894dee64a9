#![no_main]
//! See `latchkey::fuzzing::webauthn` for what this checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey::fuzzing::webauthn(data));
