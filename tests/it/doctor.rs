//! `nudge doctor` through the real binary: what it says and how it exits
//! for a config ready to go live, one missing sender keys, and a dry one.

use crate::common::{Env, NOW, SENDER_CONFIG, stdout};

/// Business hours only, Monday to Friday, with an SMS second step.
const LATER: &str = r#"name = "later"
email_footer = "Reply stop and I will not write again."
[window]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:00"

[[steps]]
id = "intro"
delay = "0m"
channel = "email"
subject = "Hello {{ first_name }}"
body = "Hi {{ first_name }}."

[[steps]]
id = "text"
delay = "2d"
channel = "sms"
body = "Hi {{ first_name }}, reply STOP to opt out."
"#;

/// Live email with everything a live message needs.
fn live_config(sender: &str) -> String {
    format!(
        r#"{sender}
[email]
smtp_url = "smtp://127.0.0.1:2525"
from = "Sam Seller <sam@example.com>"
postal_address = "Acme Tools, 1 Main St, Springfield"

[server]
listen = "127.0.0.1:0"
public_url = "https://nudge.example.com"
link_secret = "a-long-random-secret"
intake_token = "another-secret"
"#
    )
}

/// Runs `nudge doctor`; returns its exit code and standard output.
fn doctor(env: &Env) -> (i32, String) {
    let assert = env.run(&["doctor"]);
    let code = assert.get_output().status.code().expect("exit code");
    (code, stdout(&assert))
}

#[test]
fn a_config_ready_to_go_live_passes_and_names_the_next_touches() {
    let env = Env::new();
    env.write_config(&live_config(SENDER_CONFIG));
    env.write_sequence("now.toml", NOW);
    env.write_sequence("later.toml", LATER);
    let id = env.add(&[
        "--name",
        "Grace Hopper",
        "--email",
        "grace@lead.test",
        "--company",
        "Navy",
        "--sequence",
        "now",
    ]);
    let (code, out) = doctor(&env);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("email  live     email via smtp://127.0.0.1:2525"),
        "{out}"
    );
    assert!(out.contains("sms    dry-run"), "{out}");
    assert!(out.contains("0 problem(s)"), "{out}");
    assert!(!out.contains("Problems"), "{out}");
    assert!(
        out.contains("[imap] url is unset: replies will not stop sequences"),
        "{out}"
    );
    assert!(
        out.contains("now              immediate, at any hour"),
        "{out}"
    );
    assert!(
        out.contains(
            "later            waits for the window: a lead captured Fri 17:00 (UTC) hears from you Mon 09:00 (64h later)"
        ),
        "a windowed first touch names the worst wait: {out}"
    );
    let next = out
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("the lead's touch is among the next due: {out}"));
    assert!(next.contains("email intro"), "{next}");
    assert!(next.contains("Grace Hopper (Navy)"), "{next}");
}

#[test]
fn missing_sender_keys_on_a_live_channel_exit_3_naming_each_key_and_the_file() {
    let env = Env::new();
    env.write_config(&live_config(""));
    env.write_sequence("now.toml", NOW);
    let (code, out) = doctor(&env);
    assert_eq!(code, 3, "{out}");
    let file = env.config_file().display().to_string();
    for key in ["name", "company", "booking_url"] {
        let line = out
            .lines()
            .find(|l| {
                l.contains("sequence `now`") && l.contains(&format!("[sender] {key} is unset"))
            })
            .unwrap_or_else(|| panic!("names [sender] {key}: {out}"));
        assert!(line.contains(&file), "names the config file: {line}");
        assert!(line.contains("email steps"), "{line}");
    }
    assert!(out.contains("Problems"), "{out}");
    assert!(
        out.contains("fix the problems before sending live"),
        "{out}"
    );
}

#[test]
fn live_email_without_unsubscribe_or_postal_address_is_a_problem() {
    let env = Env::new();
    env.write_config(&format!(
        "{SENDER_CONFIG}\n[email]\nsmtp_url = \"smtp://127.0.0.1:2525\"\nfrom = \"sam@example.com\"\n\n[server]\nlisten = \"127.0.0.1:0\"\n"
    ));
    let (code, out) = doctor(&env);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("[email] postal_address is unset"), "{out}");
    assert!(
        out.contains("[server] public_url and link_secret unset")
            && out.contains("Gmail and Yahoo require of bulk senders"),
        "{out}"
    );
    assert!(
        out.contains("[server] listen is set but intake_token is unset"),
        "{out}"
    );
}

#[test]
fn a_dry_config_exits_0_and_lists_what_to_set_before_going_live() {
    let env = Env::new();
    env.write_config("[server]\nlisten = \"\"\n");
    env.write_sequence("now.toml", NOW);
    env.write_sequence("later.toml", LATER);
    let (code, out) = doctor(&env);
    assert_eq!(code, 0, "dry channels send nothing wrong: {out}");
    assert!(
        out.contains("email  dry-run  email: dry-run (needs smtp_url and from)"),
        "{out}"
    );
    assert!(
        out.contains("[sender] booking_url is unset") && out.contains("(when live)"),
        "{out}"
    );
    assert!(
        out.contains("sequence `later` has SMS steps but [sms] is not configured"),
        "{out}"
    );
    assert!(out.contains("nothing scheduled"), "{out}");
}
