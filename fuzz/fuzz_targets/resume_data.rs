//! Resume data read from disk: never a panic, and what is accepted
//! encodes to bytes that decode to the same resume data.
#![no_main]

use bitswarm_disk::ResumeData;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(resume) = ResumeData::from_bencode(data) {
        let again = ResumeData::from_bencode(&resume.to_bencode());
        assert_eq!(again.ok().as_ref(), Some(&resume), "round trip");
    }
});
