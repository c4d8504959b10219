//! Session resume files read from disk: never a panic, and what decodes
//! encodes to bytes that decode to the same resume file (checked inside
//! `bitswarm_session::fuzzing::resume_file`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bitswarm_session::fuzzing::resume_file(data);
});
