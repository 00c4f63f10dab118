use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn template_parses_and_env_wins() {
    let c = Config::parse(
        Path::new("c.toml"),
        CONFIG_TEMPLATE,
        env(&[
            ("NUDGE_GENERAL_DEFAULT_TZ", "Europe/Berlin"),
            ("NUDGE_STORE_CACHE_MB", "8"),
            ("NUDGE_DATA_DIR", "/tmp/x"),
        ]),
    )
    .unwrap();
    assert_eq!(c.general.default_tz, chrono_tz::Europe::Berlin);
    assert_eq!(c.store.cache_mb, 8);
}

#[test]
fn alerts_bell_wins_over_the_older_tui_bell() {
    let parse = |text: &str, vars: &[(&str, &str)]| {
        let c = Config::parse(Path::new("c.toml"), text, env(vars)).unwrap();
        c.alerts.bell(&c.tui)
    };
    assert!(parse("", &[]));
    assert!(!parse("[tui]\nbell = false\n", &[]));
    assert!(parse("[tui]\nbell = false\n[alerts]\nbell = true\n", &[]));
    assert!(!parse(
        "[alerts]\nbell = true\n",
        &[("NUDGE_ALERTS_BELL", "false")]
    ));
    assert!(Config::parse(Path::new("c.toml"), "[alerts]\nbell = \"loud\"\n", env(&[])).is_err());
}

#[test]
fn file_errors_name_line_and_field() {
    let text = "[general]\ndefault_tz = \"Mars/Olympus\"\n";
    let e = Config::parse(Path::new("c.toml"), text, env(&[])).unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("c.toml:2:"), "{msg}");
    assert!(msg.contains("general.default_tz"), "{msg}");
}

#[test]
fn intake_limits_and_trusted_proxies_parse_from_file_and_env() {
    let c = Config::parse(Path::new("c.toml"), "", env(&[])).unwrap();
    assert_eq!(
        (c.server.intake_per_minute, c.server.intake_burst),
        (60, 20)
    );
    assert!(c.server.trusted_proxies.is_empty());
    let text = "[server]\ntrusted_proxies = [\"10.0.0.1\", \"fd00::/8\"]\n";
    let c = Config::parse(Path::new("c.toml"), text, env(&[])).unwrap();
    let nets: Vec<String> = c
        .server
        .trusted_proxies
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(nets, ["10.0.0.1/32", "fd00::/8"]);
    let c = Config::parse(
        Path::new("c.toml"),
        "",
        env(&[
            ("NUDGE_SERVER_TRUSTED_PROXIES", "127.0.0.1, ::1"),
            ("NUDGE_SERVER_INTAKE_BURST", "5"),
        ]),
    )
    .unwrap();
    assert_eq!(c.server.trusted_proxies.len(), 2);
    assert_eq!(c.server.intake_burst, 5);
    let e = Config::parse(
        Path::new("c.toml"),
        "[server]\ntrusted_proxies = [\"proxy.local\"]\n",
        env(&[]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("proxy.local"), "{e}");
}

#[test]
fn env_errors_name_the_variable() {
    let e = Config::parse(
        Path::new("c.toml"),
        "",
        env(&[("NUDGE_STORE_CACHE_MB", "lots")]),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("NUDGE_STORE_CACHE_MB") && msg.contains("lots"),
        "{msg}"
    );
    let e = Config::parse(Path::new("c.toml"), "", env(&[("NUDGE_SENDER_NMAE", "x")])).unwrap_err();
    assert!(e.to_string().contains("nmae"), "{e}");
}
