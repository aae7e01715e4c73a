//! Every config example we ship or document validates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::path::{Path, PathBuf};

use aperture_config::{Loader, Mode, Severity};

fn env(name: &str) -> Option<String> {
    Some(format!("test-value-of-{name}"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The ```json / ```jsonc / ```hujson blocks of a Markdown file.
fn json_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        match &mut current {
            None if ["```json", "```jsonc", "```hujson"].contains(&trimmed.trim_end()) => {
                current = Some(String::new());
            }
            Some(block) if trimmed.starts_with("```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// Loads a block: a whole config, or a fragment of top-level members wrapped in braces.
/// Blocks are often partial configs, so they only have to be free of errors, unknown keys,
/// type mismatches and duplicates; whole example files must pass strict validation.
fn check_block(origin: &str, block: &str) {
    let loader = Loader::new().env(&env);
    let whole = block.trim_start().starts_with('{');
    let text = if whole {
        block.to_string()
    } else {
        format!("{{{block}}}")
    };
    let loaded = loader.mode(Mode::Load).load_str(&text);
    let bad: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| {
            d.severity == Severity::Error
                || d.message.starts_with("unknown config key")
                || d.message.starts_with("json:")
                || d.message.starts_with("duplicate config key")
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{origin}: example does not validate:\n{block}\n{:#?}",
        bad
    );
}

#[test]
fn starter_config_passes_strict() {
    let loaded = Loader::new()
        .mode(Mode::Strict)
        .load_str(aperture_config::STARTER_CONFIG);
    assert!(loaded.is_ok(), "{}", loaded.diagnostics.render("starter"));
    let cfg = loaded.config.unwrap();
    assert_eq!(
        cfg.providers["anthropic"].auth_mode,
        aperture_config::AuthMode::Passthrough
    );
    assert!(
        cfg.providers["anthropic"]
            .models
            .iter()
            .any(|m| m == "claude-sonnet-4-6")
    );
}

#[test]
fn example_files_pass_strict() {
    let dir = workspace().join("docs/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("docs/examples exists") {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|e| e == "json" || e == "hujson")
        {
            let loaded = Loader::new()
                .env(&env)
                .mode(Mode::Strict)
                .load_file(&path)
                .unwrap();
            assert!(
                loaded.is_ok(),
                "{}",
                loaded.diagnostics.render(&path.display().to_string())
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "expected the example configs in {}",
        dir.display()
    );
}

#[test]
fn docs_examples_validate() {
    let mut seen = 0;
    for entry in std::fs::read_dir(workspace().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&path).unwrap();
            for block in json_blocks(&text) {
                check_block(&path.display().to_string(), &block);
                seen += 1;
            }
        }
    }
    assert!(seen >= 5, "docs should show config examples");
}

/// SPEC.md is shared beside the repository (`../shared/SPEC.md`) on developer machines and CI.
#[test]
fn spec_examples_validate() {
    let spec = workspace().join("../shared/SPEC.md");
    let Ok(text) = std::fs::read_to_string(&spec) else {
        eprintln!("skipping: {} is not present", spec.display());
        return;
    };
    let blocks = json_blocks(&text);
    assert!(blocks.len() >= 4, "SPEC.md has config examples");
    for block in blocks {
        // The /v1/models answer is an API response, not a config.
        if block.contains("\"object\": \"list\"") {
            continue;
        }
        check_block("SPEC.md", &block);
    }
}
