//! The README's Caddy recipe, run for real: Debian's `caddy` with its
//! internal CA on 127.0.0.1 in front of `nudge serve`. A Twilio-signed STOP
//! posted through the proxy verifies against `public_url` and opts the lead
//! out; an unsigned one is refused; one-click unsubscribe works through it;
//! other paths get 404.

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nudge::domain::links;
use nudge::inbound::twilio_signature;

use crate::common::{Env, SENDER_CONFIG};
use crate::deploy::next_notification;
use crate::smtp_sink::free_port;

const TWILIO_TOKEN: &str = "twilio-auth-token";

/// A child killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The site block of the README, on a loopback port with `tls internal`.
fn caddyfile(env: &Env, https: u16, upstream: u16) -> String {
    format!(
        "{{
\tadmin off
\tstorage file_system {storage}
\tskip_install_trust
\tauto_https disable_redirects
}}
https://localhost:{https} {{
\tbind 127.0.0.1
\ttls internal
\t@public path /api/leads /u/* /o/* /c/* /hooks/* /healthz
\thandle @public {{
\t\treverse_proxy 127.0.0.1:{upstream}
\t}}
\thandle {{
\t\trespond 404
\t}}
}}
",
        storage = env.path().join("caddy").display()
    )
}

#[test]
fn a_signed_stop_through_caddy_verifies_against_public_url() {
    let (http, https) = (free_port(), free_port());
    let public = format!("https://localhost:{https}");
    let env = Env::new();
    env.write_config(&format!(
        "{SENDER_CONFIG}\n[server]\nlisten = \"127.0.0.1:{http}\"\npublic_url = \"{public}\"\nlink_secret = \"link-secret\"\n\n[hooks]\ntwilio_auth_token = \"{TWILIO_TOKEN}\"\n"
    ));
    env.ok(&[
        "add",
        "--name",
        "Ada Lovelace",
        "--phone",
        "+15005550001",
        "--sms-consent",
        "form",
    ]);
    let grace = env.ok(&[
        "add",
        "--name",
        "Grace Hopper",
        "--email",
        "grace@example.com",
    ]);
    let grace = grace.trim().to_string();

    let notify = env.path().join("notify.sock");
    let socket = UnixDatagram::bind(&notify).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nudge"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("NUDGE_") {
            cmd.env_remove(key);
        }
    }
    let mut serve = Killed(
        cmd.arg("serve")
            .current_dir(env.path())
            .env("NUDGE_DATA_DIR", env.data_dir())
            .env("NUDGE_CONFIG", env.config_file())
            .env("NOTIFY_SOCKET", &notify)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nudge serve"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = next_notification(&socket, &mut serve.0, deadline);
    assert!(ready.contains("READY=1"), "{ready}");

    let caddyfile_path = env.write_file("Caddyfile", caddyfile(&env, https, http));
    let _caddy = Killed(
        Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&caddyfile_path)
            .current_dir(env.path())
            .env("HOME", env.path())
            .env("XDG_DATA_HOME", env.path().join("xdg-data"))
            .env("XDG_CONFIG_HOME", env.path().join("xdg-config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(env.path().join("caddy.log")).unwrap(),
            ))
            .spawn()
            .expect("caddy (Debian package caddy; .ci/run installs it)"),
    );
    let root = env.path().join("caddy/pki/authorities/local/root.crt");
    while !root.exists() {
        assert!(Instant::now() < deadline, "caddy wrote no root certificate");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    let pem = std::fs::read(&root).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], https).into())
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Caddy answers once it has issued its certificate.
    let healthz = loop {
        let got = rt.block_on(async {
            let r = client.get(format!("{public}/healthz")).send().await?;
            Ok::<_, reqwest::Error>((r.status(), r.text().await?))
        });
        match got {
            Ok(answer) => break answer,
            Err(e) => {
                assert!(Instant::now() < deadline, "caddy never answered: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    assert_eq!(healthz, (reqwest::StatusCode::OK, "ok".to_string()));

    let params: Vec<(String, String)> = [
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("From", "+15005550001"),
        ("To", "+15005550006"),
        ("Body", "STOP"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = twilio_signature(TWILIO_TOKEN, &format!("{public}/hooks/twilio/sms"), &params);
    let post = |signature: &str| {
        rt.block_on(async {
            let r = client
                .post(format!("{public}/hooks/twilio/sms"))
                .header("X-Twilio-Signature", signature)
                .form(&params)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        })
    };
    let (status, _) = post("bm90IGEgc2lnbmF0dXJl");
    assert_eq!(
        status,
        reqwest::StatusCode::FORBIDDEN,
        "an unsigned STOP is refused"
    );
    let (status, body) = post(&signature);
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert!(body.contains("unsubscribed"), "{body}");
    let leads = env.ok(&["leads", "--status", "opted-out"]);
    assert!(leads.contains("Ada Lovelace"), "{leads}");

    // One-click unsubscribe (RFC 8058) through the proxy.
    let token = links::sign(b"link-secret", "unsubscribe", grace.parse().unwrap());
    let status = rt.block_on(async {
        client
            .post(format!("{public}/u/{token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, reqwest::StatusCode::OK);
    let shown = env.ok(&["show", &grace]);
    assert!(shown.contains("opted-out"), "{shown}");

    // Paths outside the recipe: 404.
    for path in ["/", "/admin", "/api/other"] {
        let status = rt.block_on(async {
            client
                .get(format!("{public}{path}"))
                .send()
                .await
                .unwrap()
                .status()
        });
        assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{path}");
    }
}
