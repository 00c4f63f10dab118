//! Records the git commit the binary is built from, for `nudge --version`.
//! Outside a git checkout (a crate tarball) or without git, it is "unknown".

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=NUDGE_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves (a commit, a checkout). Only existing files:
    // cargo reruns the script on every build for a missing one.
    for path in git_paths()
        .into_iter()
        .filter(|p| std::path::Path::new(p).exists())
    {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// HEAD and the ref it points to, in this checkout's git dir (a worktree's
/// `.git` is a file naming the real dir).
fn git_paths() -> Vec<String> {
    let git_dir = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned());
    let Some(dir) = git_dir else {
        return Vec::new();
    };
    let mut paths = vec![format!("{dir}/HEAD")];
    if let Ok(head) = std::fs::read_to_string(format!("{dir}/HEAD"))
        && let Some(reference) = head.strip_prefix("ref: ")
    {
        let common = Command::new("git")
            .args(["rev-parse", "--git-common-dir"])
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| dir.clone());
        paths.push(format!("{common}/{}", reference.trim()));
        paths.push(format!("{common}/packed-refs"));
    }
    paths
}
