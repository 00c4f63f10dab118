//! DKIM signing for founders who send through their own SMTP server:
//! `[email] dkim_domain`, `dkim_selector` and `dkim_private_key_file`, with
//! lettre's signer, `relaxed/relaxed` canonicalisation.

use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;

use super::ChannelError;
use crate::config::EmailSettings;

/// Headers the signature covers. A listed header the message lacks is
/// signed as absent, so nobody can add it later without breaking the
/// signature.
const SIGNED: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// A key's value when set to something other than blanks.
fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// DER prefix of a PKCS#8 Ed25519 private key (`openssl genpkey -algorithm
/// ed25519`); the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The signing setup from `[email]`, or `None` when DKIM is not configured.
/// Either all three keys are set or none.
pub fn from_settings(settings: &EmailSettings) -> Result<Option<DkimConfig>, ChannelError> {
    let invalid = |field: &'static str, detail: String| ChannelError::Invalid {
        section: "email",
        field,
        detail,
    };
    let (domain, selector, key_file) = match (
        set(&settings.dkim_domain),
        set(&settings.dkim_selector),
        set(&settings.dkim_private_key_file),
    ) {
        (None, None, None) => return Ok(None),
        (Some(d), Some(s), Some(k)) => (d, s, k),
        _ => {
            return Err(invalid(
                "dkim_domain",
                "DKIM needs all of dkim_domain, dkim_selector and dkim_private_key_file".into(),
            ));
        }
    };
    let text = std::fs::read_to_string(key_file).map_err(|e| {
        invalid(
            "dkim_private_key_file",
            format!("cannot read `{key_file}`: {e}"),
        )
    })?;
    let key = signing_key(&text)
        .map_err(|detail| invalid("dkim_private_key_file", format!("`{key_file}`: {detail}")))?;
    Ok(Some(DkimConfig::new(
        selector.to_string(),
        domain.to_string(),
        key,
        SIGNED
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect(),
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    )))
}

/// An RSA key in PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`) or an Ed25519 key in
/// PKCS#8 PEM (`BEGIN PRIVATE KEY`, as `openssl genpkey` writes it).
fn signing_key(text: &str) -> Result<DkimSigningKey, String> {
    if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
        return DkimSigningKey::new(text, DkimSigningAlgorithm::Rsa)
            .map_err(|e| format!("not a valid RSA private key: {e}"));
    }
    let not_supported = || {
        "expected an RSA key in PKCS#1 PEM (BEGIN RSA PRIVATE KEY; convert with \
         `openssl rsa -in key.pem -traditional`) or an Ed25519 key in PKCS#8 PEM"
            .to_string()
    };
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|_| not_supported())?;
    match der.strip_prefix(&ED25519_PKCS8_PREFIX[..]) {
        Some(seed) if seed.len() == 32 => DkimSigningKey::new(
            &base64::engine::general_purpose::STANDARD.encode(seed),
            DkimSigningAlgorithm::Ed25519,
        )
        .map_err(|e| format!("not a valid Ed25519 private key: {e}")),
        _ => Err(not_supported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(domain: Option<&str>, selector: Option<&str>, key: Option<&str>) -> EmailSettings {
        EmailSettings {
            dkim_domain: domain.map(str::to_string),
            dkim_selector: selector.map(str::to_string),
            dkim_private_key_file: key.map(str::to_string),
            ..EmailSettings::default()
        }
    }

    #[test]
    fn unset_is_no_signing_and_partial_is_an_error() {
        assert!(
            from_settings(&settings(None, None, None))
                .unwrap()
                .is_none()
        );
        let err = from_settings(&settings(Some("example.com"), None, None)).unwrap_err();
        assert!(err.to_string().contains("needs all of"), "{err}");
    }

    #[test]
    fn an_unreadable_or_foreign_key_names_the_file() {
        let err = from_settings(&settings(
            Some("example.com"),
            Some("s"),
            Some("/nonexistent/k.pem"),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("dkim_private_key_file") && err.contains("/nonexistent/k.pem"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = from_settings(&settings(Some("example.com"), Some("s"), path.to_str()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("PKCS#1"), "{err}");
    }

    #[test]
    fn an_ed25519_pkcs8_key_is_accepted() {
        // RFC 8410 §10.3's example key (a published test vector, not a secret).
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        assert!(signing_key(pem).is_ok());
    }
}
