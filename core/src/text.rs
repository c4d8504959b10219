//! Hex and RFC 4648 base32 for fixed-size identifiers, without allocation.

use crate::Error;

const HEX: &[u8; 16] = b"0123456789abcdef";
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Writes `bytes` as lowercase hex.
pub(crate) fn write_hex(f: &mut core::fmt::Formatter<'_>, bytes: &[u8]) -> core::fmt::Result {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        let out = &mut buf[..chunk.len() * 2];
        for (pair, b) in out.chunks_exact_mut(2).zip(chunk) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0x0f)];
        }
        // Only ASCII hex digits were written.
        f.write_str(core::str::from_utf8(out).map_err(|_| core::fmt::Error)?)?;
    }
    Ok(())
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex (either case) into `out`; `s` must be exactly `2 * out.len()` long.
pub(crate) fn decode_hex(what: &'static str, s: &[u8], out: &mut [u8]) -> Result<(), Error> {
    debug_assert_eq!(s.len(), out.len() * 2);
    for (i, (pair, o)) in s.chunks_exact(2).zip(out.iter_mut()).enumerate() {
        let hi = hex_digit(pair[0]).ok_or(Error::InvalidCharacter {
            what,
            offset: 2 * i,
        })?;
        let lo = hex_digit(pair[1]).ok_or(Error::InvalidCharacter {
            what,
            offset: 2 * i + 1,
        })?;
        *o = (hi << 4) | lo;
    }
    Ok(())
}

/// Decodes unpadded base32 (either case); `s.len() * 5` must equal `out.len() * 8`.
pub(crate) fn decode_base32(what: &'static str, s: &[u8], out: &mut [u8]) -> Result<(), Error> {
    debug_assert_eq!(s.len() * 5, out.len() * 8);
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    let mut pos = 0;
    for (offset, &c) in s.iter().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return Err(Error::InvalidCharacter { what, offset }),
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out[pos] = (acc >> bits) as u8;
            pos += 1;
        }
    }
    Ok(())
}

/// Encodes `bytes` (a multiple of 5 bytes long) as uppercase unpadded base32.
pub(crate) fn encode_base32(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 8 / 5);
    for chunk in bytes.chunks(5) {
        let mut block = [0u8; 8];
        block[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes(block) >> 24;
        for i in (0..8).rev() {
            s.push(char::from(BASE32[((n >> (i * 5)) & 31) as usize]));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_rfc4648_vectors() {
        // RFC 4648 section 10, for inputs whose length is a multiple of 5.
        assert_eq!(encode_base32(b"fooba"), "MZXW6YTB");
        let mut out = [0u8; 5];
        decode_base32("test", b"mzxw6ytb", &mut out).unwrap();
        assert_eq!(&out, b"fooba");
    }

    #[test]
    fn hex_rejects_non_digits() {
        let mut out = [0u8; 1];
        assert_eq!(
            decode_hex("test", b"0g", &mut out),
            Err(Error::InvalidCharacter {
                what: "test",
                offset: 1
            })
        );
    }
}
