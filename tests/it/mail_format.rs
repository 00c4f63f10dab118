//! Every message shape nudge sends, through the real worker to smtp-sink,
//! parsed by an independent implementation: Python's `email` package in
//! strict mode (`email.policy.strict`), which checks the RFC 5322 header
//! syntax and the RFC 2045 MIME structure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use nudge::channels::{DryRunTransport, EmailTransport};
use nudge::clock::ManualClock;
use nudge::config::{EmailSettings, Secret};
use nudge::domain::lead::{LeadId, LeadInput};
use nudge::domain::sequence::Channel;
use nudge::engine::Engine;
use nudge::engine::worker::{Channels, Worker, WorkerOptions};

use crate::smtp_sink::{Dumped, SmtpSink};
use crate::worker::engine_on_manual_clock;

/// Plain text with a subject, an HTML alternative replying in the thread,
/// and a plain follow-up: each carries the footer and unsubscribe headers.
pub const SHAPES: &str = r#"
name = "test"
email_footer = "{{ sender_name }}, {{ sender_company }}\nNot the right time? Reply \"stop\"."
[window]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:00"
[[steps]]
id = "plain"
delay = "0m"
channel = "email"
subject = "{{ first_name }}, the guide for {{ company }} — déjà vu"
body = "Hi {{ first_name }},\n\nThe guide: {{ booking_url }}\nNaïve café text, and a long line: {{ fields.long }}"
[[steps]]
id = "html"
delay = "1d"
channel = "email"
html = true
body = "Hi {{ first_name }},\n\nThe <checklist> & more: {{ booking_url }}"
[[steps]]
id = "follow-up"
delay = "2d"
channel = "email"
body = "Hi {{ first_name }}, should I stop?"
"#;

/// A sequence driven through the real worker and `EmailTransport`.
pub struct Delivered {
    /// Kept alive: its directory holds the files `messages` point to.
    pub _sink: SmtpSink,
    pub messages: Vec<Dumped>,
}

/// Runs `sequence` (its `name` must be `test`) for one email-only lead
/// through the worker and the real SMTP client into smtp-sink, moving the
/// manual clock to each next touch, and returns what the sink received.
pub fn deliver_sequence(sequence: &str, lead: LeadInput, expected: usize) -> Delivered {
    deliver_sequence_with(sequence, lead, expected, EmailSettings::default())
}

/// [`deliver_sequence`] with more `[email]` settings (`smtp_url` and `from`
/// are the sink's and Sam's).
pub fn deliver_sequence_with(
    sequence: &str,
    lead: LeadInput,
    expected: usize,
    extra: EmailSettings,
) -> Delivered {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sink = SmtpSink::start();
    let (_dir, clock, engine) = engine_on_manual_clock(sequence);
    let email = EmailTransport::new(&EmailSettings {
        smtp_url: Secret::from(sink.url().as_str()),
        from: "Sam Founder <sam@example.com>".into(),
        ..extra
    })
    .unwrap()
    .with_clock(clock.clone());
    let channels = Channels {
        email: Arc::new(email),
        sms: Arc::new(DryRunTransport::new(Channel::Sms, "test")),
        call: None,
        personaliser: None,
    };
    let options = WorkerOptions {
        pace: false,
        message_id_domain: "example.com".into(),
        postal_address: "Acme Inc, 1 Main St, Springfield".into(),
        unsubscribe: Some(("https://nudge.example.com".into(), b"secret".to_vec())),
        unsubscribe_mailto: Some("mailto:sam@example.com?subject=unsubscribe".into()),
        ..WorkerOptions::default()
    };
    let worker = Worker::new(engine.clone(), channels, options);
    let id = engine.add(&lead).unwrap();
    drive(&rt, &worker, &engine, &clock, id);
    let mut messages = sink.wait_for_messages(expected, std::time::Duration::from_secs(30));
    assert_eq!(messages.len(), expected, "one message per email step");
    // smtp-sink names its files by the second: order by the touch number in
    // the Message-ID (`<touch-id-N@domain>`), not by file name.
    messages.sort_by_key(|m| {
        m.header("Message-ID")
            .and_then(|id| {
                let local = id.split('@').next()?.to_string();
                local.rsplit('-').next()?.parse::<u32>().ok()
            })
            .unwrap_or(u32::MAX)
    });
    Delivered {
        _sink: sink,
        messages,
    }
}

/// Passes of the worker, each after moving the clock to the lead's next
/// touch, until the sequence is done (bounded).
fn drive(
    rt: &tokio::runtime::Runtime,
    worker: &Worker,
    engine: &Engine,
    clock: &ManualClock,
    id: LeadId,
) {
    for _ in 0..30 {
        rt.block_on(worker.run_due()).unwrap();
        match engine.store().lead(id).unwrap().unwrap().next {
            Some(next) => clock.set(next.at),
            None => return,
        }
    }
    panic!("the sequence did not finish within 30 worker passes");
}

/// A Python 3 that can `import` every module in `modules`: `python3` on
/// `PATH` first, then Debian's `/usr/bin/python3` (where apt installs
/// `python3-dkim`). Fails loudly: a skipped check would prove nothing.
pub fn python_with(modules: &[&str]) -> PathBuf {
    let probe = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    ["python3", "/usr/bin/python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|python| {
            Command::new(python)
                .args(["-c", &probe])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!(
                "no python3 can import {modules:?}; install it with \
                 apt-get install -y python3 (and python3-dkim for DKIM); .ci/run does this"
            )
        })
}

/// Checks one raw message in strict mode; prints one problem per line.
const STRICT_CHECK: &str = r#"
import email, email.policy, sys
raw = open(sys.argv[1], 'rb').read()
problems = []
for n, line in enumerate(raw.split(b'\n'), 1):
    if len(line.rstrip(b'\r')) > 998:
        problems.append(f'line {n} is longer than 998 octets (RFC 5322 2.1.1)')
try:
    msg = email.message_from_bytes(raw, policy=email.policy.strict)
except Exception as e:
    print(f'strict parse failed: {e!r}')
    sys.exit(0)
if msg.get('MIME-Version') != '1.0':
    problems.append(f"MIME-Version is {msg.get('MIME-Version')!r}, not '1.0'")
for name in ['From', 'To', 'Subject', 'Date', 'Message-ID', 'MIME-Version']:
    count = len(msg.get_all(name) or [])
    if count != 1:
        problems.append(f'{name} appears {count} times, not once')
for part in msg.walk():
    problems += [f'defect in {part.get_content_type()}: {d!r}' for d in part.defects]
    for key, value in part.items():
        problems += [f'defect in header {key}: {d!r}' for d in getattr(value, 'defects', ())]
    cte = part.get('Content-Transfer-Encoding', '7bit').lower()
    if cte not in ('7bit', '8bit', 'binary', 'quoted-printable', 'base64'):
        problems.append(f'unknown Content-Transfer-Encoding {cte}')
    if not part.is_multipart():
        if part.get_content_maintype() != 'text':
            problems.append(f'unexpected leaf {part.get_content_type()}')
        part.get_content()
        problems += [f'defect in {part.get_content_type()} body: {d!r}' for d in part.defects]
head = raw.split(b'\r\n\r\n' if b'\r\n\r\n' in raw else b'\n\n', 1)[0]
if any(b > 127 for b in head):
    problems.append('raw 8-bit bytes in the header (RFC 5322 needs encoded-words)')
for p in problems:
    print(p)
"#;

/// What strict parsing of `path` found wrong; empty when the message is clean.
pub fn strict_problems(python: &Path, path: &Path) -> Vec<String> {
    let out = Command::new(python)
        .args(["-c", STRICT_CHECK])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the strict check crashed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A lead whose values need encoding everywhere: non-ASCII name and
/// company, markup, and a field long enough to need line wrapping.
pub fn shapes_lead() -> LeadInput {
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("long".to_string(), "word ".repeat(300));
    LeadInput {
        name: "Zoë Ünal-O'Brien".into(),
        email: Some("zoe@example.org".into()),
        company: Some("Müller & Söhne <GmbH>".into()),
        fields,
        source: "test".into(),
        sequence: Some("test".into()),
        ..LeadInput::default()
    }
}

#[test]
fn every_message_shape_is_well_formed_under_strict_parsing() {
    let python = python_with(&["email.policy"]);
    let delivered = deliver_sequence(SHAPES, shapes_lead(), 3);
    let mail = &delivered.messages;
    // The shapes are what this test claims to cover.
    assert!(
        mail[0]
            .header("Content-Type")
            .unwrap()
            .starts_with("text/plain"),
        "{}",
        mail[0].raw
    );
    assert!(
        mail[1]
            .header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{}",
        mail[1].raw
    );
    for follow_up in &mail[1..] {
        assert!(
            follow_up.header("In-Reply-To").is_some(),
            "{}",
            follow_up.raw
        );
        assert!(
            follow_up.header("References").is_some(),
            "{}",
            follow_up.raw
        );
    }
    for m in mail {
        assert_eq!(
            m.header("MIME-Version").as_deref(),
            Some("1.0"),
            "{}",
            m.raw
        );
        assert!(
            m.header("List-Unsubscribe")
                .is_some_and(|v| v.contains("https://nudge.example.com")),
            "{}",
            m.raw
        );
        assert_eq!(
            m.header("List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click"),
            "{}",
            m.raw
        );
        let problems = strict_problems(&python, &m.path);
        assert!(
            problems.is_empty(),
            "{}:\n{}\n--- message ---\n{}",
            m.path.display(),
            problems.join("\n"),
            m.raw
        );
    }
}
