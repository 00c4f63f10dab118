//! DKIM signatures checked by an independent implementation: every message
//! shape goes through the real worker to smtp-sink, signed with a key made
//! for this test, and dkimpy (Debian's `python3-dkim`) verifies it against
//! the public key served by a stub DNS lookup.

use std::process::Command;

use nudge::config::EmailSettings;

use crate::mail_format::{SHAPES, deliver_sequence_with, python_with, shapes_lead};

/// Verifies argv[1] with the public key argv[2]; prints `ok`, then the
/// signature's `c=` and `h=` tags; then whether a changed Subject verifies.
const VERIFY: &str = r#"
import dkim, sys
raw = open(sys.argv[1], 'rb').read()
asked = []
def dns(name, timeout=5):
    asked.append(name)
    return b'v=DKIM1; k=rsa; p=' + sys.argv[2].encode()
print('ok' if dkim.verify(raw, dnsfunc=dns) else 'fail')
print(asked[0].decode() if asked else 'no lookup')
sig = dkim.DKIM(raw)
tags = dkim.util.parse_tag_value(
    [v for k, v in sig.headers if k.lower() == b'dkim-signature'][0])
print(tags[b'c'].decode())
print(tags[b'h'].decode().lower())
tampered = raw.replace(b'\nSubject: ', b'\nSubject: FW: ', 1)
print('tampered ' + ('ok' if dkim.verify(tampered, dnsfunc=dns) else 'fail'))
"#;

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is needed to make the test key");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn every_message_shape_is_signed_and_dkimpy_verifies_it() {
    let python = python_with(&["dkim"]);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("dkim.pem");
    let key_path = key.to_str().unwrap();
    openssl(&["genrsa", "-traditional", "-out", key_path, "2048"]);
    let public_der = openssl(&["rsa", "-in", key_path, "-pubout", "-outform", "DER"]);
    use base64::Engine as _;
    let public = base64::engine::general_purpose::STANDARD.encode(public_der);

    let delivered = deliver_sequence_with(
        SHAPES,
        shapes_lead(),
        3,
        EmailSettings {
            dkim_domain: Some("example.com".into()),
            dkim_selector: Some("nudge2026".into()),
            dkim_private_key_file: Some(key_path.into()),
            ..EmailSettings::default()
        },
    );
    for m in &delivered.messages {
        let out = Command::new(&python)
            .args(["-c", VERIFY])
            .arg(&m.path)
            .arg(&public)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = report.lines().collect();
        let context = format!(
            "{report}\n{}\n--- message ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            m.raw
        );
        assert_eq!(lines.first(), Some(&"ok"), "{context}");
        assert_eq!(lines[1], "nudge2026._domainkey.example.com.", "{context}");
        assert_eq!(lines[2], "relaxed/relaxed", "{context}");
        let signed: Vec<&str> = lines[3].split(':').map(str::trim).collect();
        for header in [
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "list-unsubscribe",
            "list-unsubscribe-post",
        ] {
            assert!(signed.contains(&header), "{header} is signed: {context}");
        }
        assert_eq!(lines[4], "tampered fail", "{context}");
    }
}
