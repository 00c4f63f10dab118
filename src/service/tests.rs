use std::path::Path;

use super::*;
use crate::config::Config;

fn spec(scope: Scope) -> UnitSpec {
    UnitSpec {
        binary: "/home/ada/.cargo/bin/nudge".into(),
        config_file: "/home/ada/.config/nudge/config.toml".into(),
        data_dir: "/home/ada/.local/share/nudge".into(),
        secrets_file: "/home/ada/.config/nudge/secrets.env".into(),
        scope,
        user: Some("ada".into()),
    }
}

#[test]
fn a_system_unit_notifies_restarts_and_is_hardened() {
    let unit = unit_text(&spec(Scope::System)).unwrap();
    for line in [
        "Type=notify",
        "Restart=on-failure",
        "ExecStart=/home/ada/.cargo/bin/nudge --config /home/ada/.config/nudge/config.toml --data-dir /home/ada/.local/share/nudge serve",
        "EnvironmentFile=/home/ada/.config/nudge/secrets.env",
        "User=ada",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/home/ada/.local/share/nudge",
        "PrivateTmp=yes",
        "ProtectHome=read-only",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "missing {line:?} in\n{unit}"
        );
    }
}

#[test]
fn a_user_unit_has_no_user_line_and_leaves_home_alone() {
    let unit = unit_text(&spec(Scope::User)).unwrap();
    assert!(!unit.lines().any(|l| l.starts_with("User=")));
    assert!(!unit.lines().any(|l| l.starts_with("ProtectHome=")));
    assert!(unit.lines().any(|l| l == "WantedBy=default.target"));
    assert!(unit.lines().any(|l| l == "ProtectSystem=strict"));
}

#[test]
fn paths_with_spaces_and_percent_are_quoted_and_escaped() {
    let mut s = spec(Scope::User);
    s.data_dir = "/srv/my data/100%".into();
    let unit = unit_text(&s).unwrap();
    assert!(
        unit.contains("--data-dir \"/srv/my data/100%%\" serve"),
        "{unit}"
    );
    assert!(unit.contains("ReadWritePaths=\"/srv/my data/100%%\""));
    s.data_dir = "/srv/a\nb".into();
    assert!(matches!(unit_text(&s), Err(UnitError::Newline(_))));
}

#[test]
fn every_secret_in_the_secrets_file_is_a_real_config_override() {
    let text = secrets_text();
    let mut count = 0;
    for line in text.lines().filter(|l| l.starts_with("# NUDGE_")) {
        let (var, _) = line.trim_start_matches("# ").split_once('=').unwrap();
        let vars = vec![(var.to_string(), "x".to_string())];
        Config::parse(Path::new("config.toml"), "", vars)
            .unwrap_or_else(|e| panic!("{var} is not a config key: {e}"));
        count += 1;
    }
    assert_eq!(count, SECRET_VARS.len());
    assert!(
        text.lines().all(|l| l.starts_with('#')),
        "all commented out"
    );
}

#[test]
fn systemctl_commands_match_the_scope() {
    assert!(
        systemctl_commands(Scope::User, "nudge.service")
            .contains(&"systemctl --user enable --now nudge.service".to_string())
    );
    assert!(
        systemctl_commands(Scope::System, "nudge.service")
            .contains(&"sudo systemctl enable --now nudge.service".to_string())
    );
}
