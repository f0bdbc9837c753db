//! TOTP written here from RFC 6238 (HOTP, RFC 4226, on 30-second steps; HMAC-SHA-1; six
//! digits) and base32 from RFC 4648: the tests compute codes without the library the server
//! uses, so a shared mistake cannot pass unseen.

use hmac::{Hmac, KeyInit, Mac};

/// RFC 4648 base32 without padding, as the server shows the secret.
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u64, Vec::new());
    for c in text.bytes() {
        let index = ALPHABET.iter().position(|a| *a == c).expect("base32") as u64;
        value = (value << 5) | index;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
        }
    }
    out
}

/// RFC 6238 (HOTP of RFC 4226 on the 30-second step), 6 digits.
pub fn totp(secret: &[u8], unix_time: i64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(&(unix_time / 30).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let number = u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", number % 1_000_000)
}
