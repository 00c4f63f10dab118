//! Signed link tokens (unsubscribe today; tracking later). A token carries
//! the lead id and an HMAC over it, so it can be neither forged nor guessed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::lead::LeadId;

/// Bytes of MAC kept in a token: 128 bits is far beyond guessing range.
const MAC_LEN: usize = 16;

fn mac(secret: &[u8], purpose: &str, lead: LeadId) -> [u8; MAC_LEN] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(purpose.as_bytes());
    mac.update(&lead.to_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

/// A token for `purpose` (e.g. "unsubscribe") and `lead`.
pub fn sign(secret: &[u8], purpose: &str, lead: LeadId) -> String {
    let mut bytes = lead.to_bytes().to_vec();
    bytes.extend_from_slice(&mac(secret, purpose, lead));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The lead a token was issued for, if it is genuine.
pub fn verify(secret: &[u8], purpose: &str, token: &str) -> Option<LeadId> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    if bytes.len() != 16 + MAC_LEN {
        return None;
    }
    let id = LeadId::from_bytes(bytes[..16].try_into().ok()?);
    constant_time_eq(&mac(secret, purpose, id), &bytes[16..]).then_some(id)
}

/// Compares secrets without an early exit on the first differing byte, so
/// response times do not leak how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_the_right_secret_and_purpose() {
        let id: LeadId = "01JD3Q8Z5K9X2V7N4M6B1C0T8R".parse().unwrap();
        let token = sign(b"secret", "unsubscribe", id);
        assert_eq!(verify(b"secret", "unsubscribe", &token), Some(id));
        assert_eq!(verify(b"other", "unsubscribe", &token), None);
        assert_eq!(verify(b"secret", "click", &token), None);
        let mut forged = token.into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            verify(
                b"secret",
                "unsubscribe",
                &String::from_utf8(forged).unwrap()
            ),
            None
        );
        assert_eq!(verify(b"secret", "unsubscribe", "not a token"), None);
    }
}
