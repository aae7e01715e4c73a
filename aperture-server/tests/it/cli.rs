//! The `aperture` binary as a user runs it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn aperture(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aperture"))
        .args(args)
        .env_remove("OPENAI_KEY")
        .output()
        .expect("runs")
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aperture-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("aperture.json");
    std::fs::write(&path, text).unwrap();
    path
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const BASURL: &str = r#"{
  "providers": {
    "openai": {
      "basurl": "https://api.openai.com",
      "baseurl": "https://api.openai.com",
      "models": ["gpt-5"],
    },
  },
  "grants": [{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": "admin"}, {"models": "**"}]}}],
}"#;

#[test]
fn warnings_print_like_a_compiler_and_fail_only_in_strict_mode() {
    let path = temp_file("basurl", BASURL);
    let p = path.to_str().unwrap();
    let o = aperture(&["config", "validate", p]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "{p}:4:7: warning: unknown config key \"basurl\" (/providers/openai/basurl)\n  help: did you mean \"baseurl\"?"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("{p}: valid (1 warning)")), "{out}");

    let o = aperture(&["config", "validate", "--strict", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains(&format!("{p}:4:7: error: unknown config key \"basurl\"")));
}

#[test]
fn json_format() {
    let path = temp_file("json", BASURL);
    let o = aperture(&[
        "config",
        "validate",
        "--strict",
        "--format",
        "json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(v["Valid"], false);
    let d = &v["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["path"], "/providers/openai/basurl");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(4), Some(7))
    );
    assert_eq!(d["message"], "unknown config key \"basurl\"");
}

#[test]
fn errors_exit_1_with_position() {
    let path = temp_file("syntax", "{\n  \"providers\": {,}\n}");
    let p = path.to_str().unwrap();
    let o = aperture(&["config", "validate", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with(&format!(
            "{p}:2:17: error: invalid config: invalid character ','"
        )),
        "{}",
        stdout(&o)
    );

    let path = temp_file(
        "macro",
        r#"{"providers": {"o": {"baseurl": "https://x", "models": ["m"], "apikey": "${OPENAI_KEY}"}}}"#,
    );
    let o = aperture(&["config", "validate", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("error: unsubstituted macros: [OPENAI_KEY]"));
}

#[test]
fn unreadable_file_exits_2_with_path_and_os_error() {
    let o = aperture(&["config", "validate", "/nonexistent/aperture.json"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/aperture.json"), "{err}");
    assert!(err.contains("No such file or directory"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["config", "validate"][..],
        &["config", "validate", "--format", "xml", "f"],
        &["frobnicate"],
    ] {
        let o = aperture(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("usage:"));
    }
}

#[test]
fn schema_command_prints_the_checked_in_schema() {
    let o = aperture(&["config", "schema"]);
    assert_eq!(o.status.code(), Some(0));
    let checked_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../aperture-config/schema/aperture.schema.json"
    ))
    .unwrap();
    assert_eq!(stdout(&o), checked_in);
}

#[test]
fn every_example_config_validates_strictly() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let o = Command::new(env!("CARGO_BIN_EXE_aperture"))
            .args(["config", "validate", "--strict", path.to_str().unwrap()])
            .env("ANTHROPIC_API_KEY", "k")
            .env("OPENAI_API_KEY", "k")
            .env("OPENROUTER_API_KEY", "k")
            .env("GUARD_KEY", "k")
            .env("AWS_BEARER_TOKEN_BEDROCK", "k")
            .env("GEMINI_API_KEY", "k")
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            stdout(&o)
        );
        n += 1;
    }
    assert!(n >= 3);
}

#[test]
fn version() {
    let o = aperture(&["version"]);
    assert_eq!(
        stdout(&o),
        format!("aperture {}\n", env!("CARGO_PKG_VERSION"))
    );
}
