//! Bearer tokens of the API: made at random, configured and compared as their
//! SHA-256 digest only (the daemon never keeps a token itself).

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of a token.
pub fn digest_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh random token (256 bits, hex).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    let mut file = std::fs::File::open("/dev/urandom").expect("/dev/urandom exists");
    std::io::Read::read_exact(&mut file, &mut bytes).expect("/dev/urandom reads");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_tokens_differ_and_digests_are_hex_sha256() {
        assert_ne!(new_token(), new_token());
        assert_eq!(new_token().len(), 64);
        assert_eq!(
            digest_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
