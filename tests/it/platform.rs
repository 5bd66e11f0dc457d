//! What a platform team expects around the job: completion scripts and man pages generated from
//! the command line's own definitions, and the run's Prometheus metrics.

use std::process::Command;

use crate::support::Env;

fn installed(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let env = Env::new();
    for (shell, checker) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        let script = env.run(&["completions", shell]).ok();
        assert!(
            script.stdout.contains("verify"),
            "{shell}: names the subcommands"
        );
        if !installed(checker) {
            assert!(shell != "bash", "bash is on every machine this runs on");
            eprintln!("skipped: {checker} is not installed, its script is not checked");
            continue;
        }
        let file = env.write(&format!("audit.{shell}"), &script.stdout);
        let checked = Command::new(checker).arg("-n").arg(&file).output().unwrap();
        assert!(
            checked.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    for shell in ["powershell", "elvish"] {
        assert!(!env.run(&["completions", shell]).ok().stdout.is_empty());
    }
    env.run(&["completions", "tcsh"]).code(2);
}

#[test]
fn man_pages_cover_every_subcommand_and_render() {
    let env = Env::new();
    let dir = env.path("man");
    let out = env.run(&["man", "--out-dir", dir.to_str().unwrap()]).ok();
    for page in [
        "audit.1",
        "audit-verify.1",
        "audit-key-generate.1",
        "audit-policy-validate.1",
    ] {
        assert!(dir.join(page).is_file(), "{page}: {}", out.stdout);
    }
    assert!(!dir.join("audit-help.1").exists());
    let verify = std::fs::read_to_string(dir.join("audit-verify.1")).unwrap();
    assert!(
        verify.contains(".TH") && verify.contains("witness"),
        "{verify}"
    );
    if !installed("man") {
        eprintln!("skipped: man is not installed, the pages are not rendered");
        return;
    }
    let shown = Command::new("man")
        .arg("-l")
        .arg(dir.join("audit-verify.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(String::from_utf8_lossy(&shown.stdout).contains("NAME"));
}
