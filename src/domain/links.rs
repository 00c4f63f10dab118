//! Signed link tokens: unsubscribe links carry the lead id, tracking links
//! (open pixel, click redirect) the lead, the touch's step and the link's
//! index, each followed by an HMAC over them, so a token can be neither
//! forged nor enumerated.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::lead::LeadId;

/// Bytes of MAC kept in a token: 128 bits is far beyond guessing range.
const MAC_LEN: usize = 16;

/// Bytes of a tracking payload: lead id, step, link index.
const LINK_PAYLOAD: usize = 16 + 4 + 4;

fn mac(secret: &[u8], purpose: &str, payload: &[u8]) -> [u8; MAC_LEN] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(purpose.as_bytes());
    mac.update(payload);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

/// A token for `purpose` (e.g. "unsubscribe") and `lead`.
pub fn sign(secret: &[u8], purpose: &str, lead: LeadId) -> String {
    let mut bytes = lead.to_bytes().to_vec();
    bytes.extend_from_slice(&mac(secret, purpose, &lead.to_bytes()));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The lead a token was issued for, if it is genuine.
pub fn verify(secret: &[u8], purpose: &str, token: &str) -> Option<LeadId> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    if bytes.len() != 16 + MAC_LEN {
        return None;
    }
    let id = LeadId::from_bytes(bytes[..16].try_into().ok()?);
    constant_time_eq(&mac(secret, purpose, &bytes[..16]), &bytes[16..]).then_some(id)
}

/// What a tracking token points at: one link (or the open pixel, index 0)
/// of one touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkRef {
    /// The lead the message went to.
    pub lead: LeadId,
    /// The touch's step index (with the lead, the touch id).
    pub step: u32,
    /// Which of the touch's stored links; 0 for the open pixel.
    pub index: u32,
}

impl LinkRef {
    fn to_bytes(self) -> [u8; LINK_PAYLOAD] {
        let mut out = [0u8; LINK_PAYLOAD];
        out[..16].copy_from_slice(&self.lead.to_bytes());
        out[16..20].copy_from_slice(&self.step.to_be_bytes());
        out[20..].copy_from_slice(&self.index.to_be_bytes());
        out
    }
}

/// A tracking token for `purpose` (`open` or `click`) and `link`.
pub fn sign_link(secret: &[u8], purpose: &str, link: LinkRef) -> String {
    let payload = link.to_bytes();
    let mut bytes = payload.to_vec();
    bytes.extend_from_slice(&mac(secret, purpose, &payload));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The link a tracking token was issued for, if it is genuine.
pub fn verify_link(secret: &[u8], purpose: &str, token: &str) -> Option<LinkRef> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    if bytes.len() != LINK_PAYLOAD + MAC_LEN {
        return None;
    }
    let (payload, tag) = bytes.split_at(LINK_PAYLOAD);
    if !constant_time_eq(&mac(secret, purpose, payload), tag) {
        return None;
    }
    Some(LinkRef {
        lead: LeadId::from_bytes(payload[..16].try_into().ok()?),
        step: u32::from_be_bytes(payload[16..20].try_into().ok()?),
        index: u32::from_be_bytes(payload[20..].try_into().ok()?),
    })
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

    #[test]
    fn link_tokens_carry_lead_step_and_index_and_resist_tampering() {
        let lead: LeadId = "01JD3Q8Z5K9X2V7N4M6B1C0T8R".parse().unwrap();
        let link = LinkRef {
            lead,
            step: 2,
            index: 7,
        };
        let token = sign_link(b"secret", "click", link);
        assert_eq!(verify_link(b"secret", "click", &token), Some(link));
        assert_eq!(verify_link(b"other", "click", &token), None);
        assert_eq!(verify_link(b"secret", "open", &token), None);
        // Every single-character change is refused (no enumeration of
        // neighbouring indexes or steps).
        let chars: Vec<char> = token.chars().collect();
        for i in 0..chars.len() {
            let mut forged = chars.clone();
            forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
            let forged: String = forged.into_iter().collect();
            assert_eq!(verify_link(b"secret", "click", &forged), None, "{i}");
        }
        let other = sign_link(b"secret", "click", LinkRef { index: 8, ..link });
        assert_ne!(token, other);
        // An unsubscribe token is no tracking token, and the reverse.
        let unsubscribe = sign(b"secret", "click", lead);
        assert_eq!(verify_link(b"secret", "click", &unsubscribe), None);
        assert_eq!(verify(b"secret", "click", &token), None);
        assert_eq!(verify_link(b"secret", "click", "../../etc"), None);
    }
}
