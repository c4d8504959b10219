//! Entry points for the fuzz targets: decoders of untrusted bytes that are
//! not public API, with the checks a fuzzer should make on their answers.
//! Built only with the `fuzzing` feature; not a stable interface.

use crate::resume::ResumeFile;

/// Decodes `bytes` as a resume file; when they decode, encodes the result
/// and decodes that again, and panics unless both decodings agree and the
/// encoding is stable. Returns whether `bytes` decoded.
pub fn resume_file(bytes: &[u8]) -> bool {
    let Ok(file) = ResumeFile::from_bytes(bytes) else {
        return false;
    };
    let encoded = file.to_bytes();
    let again = ResumeFile::from_bytes(&encoded);
    assert_eq!(
        again.as_ref(),
        Ok(&file),
        "a decoded resume file round-trips"
    );
    if let Ok(again) = again {
        assert_eq!(again.to_bytes(), encoded, "the encoding is stable");
    }
    true
}
