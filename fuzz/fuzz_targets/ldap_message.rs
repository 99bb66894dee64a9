#![no_main]
//! See `latchkey::fuzzing::ldap_message` for what this checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey::fuzzing::ldap_message(data));
