//! The load pipeline: text → HuJSON → lenient type check → `${VAR}` → validation → `Config`.

use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Diagnostics, Mode, Severity};
use crate::env::{EnvLookup, substitute_value};
use crate::lenient::{self, SpanIndex};
use crate::position::LineIndex;
use crate::raw::RawConfig;
use crate::validate::{self, Ctx};

/// Why a config file could not be read (exit code 2 in the CLI).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error("cannot read {path}: the file is not valid UTF-8")]
    NotUtf8 {
        /// The path as given.
        path: String,
    },
}

/// The outcome of loading a config: the config when there are no errors, and every diagnostic.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated config, present when no diagnostic is an error (in strict mode: when
    /// there are no warnings either).
    pub config: Option<Config>,
    /// The raw config as written in the file (before `${VAR}` substitution), when the text was
    /// HuJSON with an object at the top.
    pub raw: Option<RawConfig>,
    /// Everything found, in file order.
    pub diagnostics: Diagnostics,
    /// JSON pointers of the string values that held `${VAR}` references.
    pub substituted: Vec<String>,
}

impl Loaded {
    /// Whether the config loaded (no errors).
    pub fn is_ok(&self) -> bool {
        self.config.is_some()
    }

    /// The config and its remaining diagnostics, or the diagnostics when it did not load.
    pub fn into_result(self) -> Result<(Config, Diagnostics), Diagnostics> {
        match self.config {
            Some(c) => Ok((c, self.diagnostics)),
            None => Err(self.diagnostics),
        }
    }
}

/// Loads configs with a chosen mode and environment.
///
/// ```
/// use aperture_config::{Loader, Mode};
/// let text = r#"{ "providers": { "openai": { "baseurl": "https://api.openai.com",
///     "models": ["gpt-5"], "apikey": "${OPENAI_KEY}" } },
///   "grants": [ { "src": ["*"], "app": { "tailscale.com/cap/aperture": [
///       { "role": "admin" }, { "models": "**" } ] } } ] }"#;
/// let env = |name: &str| (name == "OPENAI_KEY").then(|| "sk-test".to_string());
/// let loaded = Loader::new().mode(Mode::Strict).env(&env).load_str(text);
/// let config = loaded.config.expect("valid");
/// assert_eq!(config.providers["openai"].apikey,
///            aperture_config::ApiKey::Key(aperture_config::Secret::new("sk-test")));
/// ```
#[derive(Clone, Copy)]
pub struct Loader<'e> {
    mode: Mode,
    env: EnvLookup<'e>,
}

impl std::fmt::Debug for Loader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Default for Loader<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'e> Loader<'e> {
    /// Load mode, process environment.
    pub fn new() -> Self {
        Self {
            mode: Mode::Load,
            env: &process_env,
        }
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets where `${VAR}` values come from.
    pub fn env<'f>(self, env: EnvLookup<'f>) -> Loader<'f> {
        Loader {
            mode: self.mode,
            env,
        }
    }

    /// Loads a config from text.
    pub fn load_str(&self, text: &str) -> Loaded {
        let lines = LineIndex::new(text);
        // A document that is not HuJSON, or not an object, is one error at its position.
        let unreadable = |offset: usize, detail: String| {
            let mut d = Diagnostic::new(Severity::Error, "", format!("invalid config: {detail}"));
            let (l, c) = lines.position(text, offset);
            (d.line, d.column) = (Some(l), Some(c));
            let mut diagnostics = Diagnostics::new();
            diagnostics.push(d);
            Loaded {
                config: None,
                raw: None,
                diagnostics,
                substituted: Vec::new(),
            }
        };
        let node = match crate::hujson::parse(text) {
            Ok(n) => n,
            Err(e) => return unreadable(e.offset, e.message),
        };
        if !matches!(node.kind, crate::hujson::Kind::Object(_)) {
            let detail = format!(
                "the top-level value must be an object, not {}",
                node.kind.go_name()
            );
            return unreadable(node.span.start, detail);
        }
        let checked = lenient::check(&node, schema_value());
        let mut diagnostics: Vec<Diagnostic> = checked.diagnostics;
        let offset = |p: &str| checked.spans.get(p).map(|l| l.value);
        let (config, raw, substituted) = self.finish(checked.value, &mut diagnostics, &offset);
        let mut ds = Diagnostics::new();
        ds.extend(
            diagnostics
                .into_iter()
                .map(|d| locate(d, &checked.spans, &lines, text)),
        );
        finish_diagnostics(ds, config, raw, substituted, self.mode)
    }

    /// Loads a config file.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<Loaded, ReadError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
            path: shown.clone(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 { path: shown })?;
        Ok(self.load_str(&text))
    }

    /// Validates a raw config built in code (no positions). Strings are substituted from the
    /// loader's environment.
    pub fn validate(&self, raw: &RawConfig) -> Loaded {
        let mut diagnostics = Vec::new();
        let (config, raw, substituted) = match serde_json::to_value(raw) {
            Ok(v) => self.finish(v, &mut diagnostics, &|_| None),
            Err(e) => {
                diagnostics.push(Diagnostic::new(
                    Severity::Error,
                    "",
                    format!("invalid config: {e}"),
                ));
                (None, None, Vec::new())
            }
        };
        let mut ds = Diagnostics::new();
        ds.extend(diagnostics);
        finish_diagnostics(ds, config, raw, substituted, self.mode)
    }

    /// Shared tail: raw value → substituted → validated.
    fn finish(
        &self,
        value: Value,
        diagnostics: &mut Vec<Diagnostic>,
        offset: &dyn Fn(&str) -> Option<usize>,
    ) -> (Option<Config>, Option<RawConfig>, Vec<String>) {
        let raw = match serde_json::from_value::<RawConfig>(value.clone()) {
            Ok(r) => r,
            Err(e) => {
                diagnostics.push(Diagnostic::new(
                    Severity::Error,
                    "",
                    format!("invalid config: {e}"),
                ));
                return (None, None, Vec::new());
            }
        };
        let mut resolved = value.clone();
        let mut missing = Vec::new();
        let mut substituted = Vec::new();
        substitute_value(&mut resolved, "", self.env, &mut missing, &mut substituted);
        // Every value that came from the environment, as resolved and as written, so that no
        // diagnostic can repeat a resolved value (a secret, often).
        let mut scrub: Vec<(String, String)> = substituted
            .iter()
            .filter_map(|p| {
                let now = resolved.pointer(p)?.as_str()?;
                let was = value.pointer(p)?.as_str()?;
                (now.len() >= 3 && now != was).then(|| (now.to_string(), was.to_string()))
            })
            .collect();
        scrub.sort_by_key(|(now, _)| std::cmp::Reverse(now.len()));
        let resolved: RawConfig = match serde_json::from_value(resolved) {
            Ok(r) => r,
            Err(e) => {
                diagnostics.push(Diagnostic::new(
                    Severity::Error,
                    "",
                    format!("invalid config: {e}"),
                ));
                return (None, Some(raw), substituted);
            }
        };
        // Order of appearance in the file (stable: keeps the order within one string).
        missing.sort_by_key(|(_, p)| offset(p).unwrap_or(usize::MAX));
        if let Some((_, first)) = missing.first() {
            let mut names: Vec<&str> = Vec::new();
            for (n, _) in &missing {
                if !names.contains(&n.as_str()) {
                    names.push(n);
                }
            }
            diagnostics.push(Diagnostic::new(
                Severity::Error,
                first.clone(),
                format!("unsubstituted macros: [{}]", names.join(" ")),
            ));
        }
        let mut ctx = Ctx {
            unsubstituted: Some(&value),
            substituted: substituted.iter().map(String::as_str).collect(),
            scrub,
            ..Ctx::default()
        };
        let config = validate::validate(&resolved, &mut ctx);
        diagnostics.extend(ctx.diagnostics);
        (Some(config), Some(raw), substituted)
    }
}

fn finish_diagnostics(
    mut ds: Diagnostics,
    config: Option<Config>,
    raw: Option<RawConfig>,
    substituted: Vec<String>,
    mode: Mode,
) -> Loaded {
    ds.sort();
    ds.apply_mode(mode);
    let config = if ds.has_errors() { None } else { config };
    Loaded {
        config,
        raw,
        diagnostics: ds,
        substituted,
    }
}

/// Fills in the line and column of a diagnostic from its pointer (the key of an object member,
/// else the value; for a pointer the document lacks, its nearest present ancestor).
fn locate(mut d: Diagnostic, spans: &SpanIndex, lines: &LineIndex, text: &str) -> Diagnostic {
    let mut p = d.path.as_str();
    loop {
        if let Some(at) = spans.get(p) {
            let (l, c) = lines.position(text, at.key.unwrap_or(at.value));
            (d.line, d.column) = (Some(l), Some(c));
            return d;
        }
        match p.rfind('/') {
            Some(i) => p = &p[..i],
            None => return d,
        }
    }
}

/// Loads a config from text in the given mode, with `${VAR}` from the process environment.
///
/// ```
/// let loaded = aperture_config::load_str(r#"{
///   // HuJSON: comments and trailing commas are fine
///   "providers": { "openai": { "basurl": "https://api.openai.com", "models": ["gpt-5"], } },
/// }"#, aperture_config::Mode::Load);
/// let d = loaded.diagnostics.find("unknown config key \"basurl\"").expect("reported");
/// assert_eq!((d.line, d.column), (Some(3), Some(30)));
/// assert_eq!(d.path, "/providers/openai/basurl");
/// assert_eq!(d.help.as_deref(), Some("did you mean \"baseurl\"?"));
/// ```
pub fn load_str(text: &str, mode: Mode) -> Loaded {
    Loader::new().mode(mode).load_str(text)
}

/// Loads a config file in the given mode, with `${VAR}` from the process environment.
pub fn load_file(path: impl AsRef<Path>, mode: Mode) -> Result<Loaded, ReadError> {
    Loader::new().mode(mode).load_file(path)
}

/// The JSON schema of the config file, derived from [`RawConfig`].
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(RawConfig)
}

/// The schema as a JSON value, built once.
pub(crate) fn schema_value() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| schema().to_value())
}

/// The schema as pretty JSON text with a trailing newline, as checked in at
/// `aperture-config/schema/aperture.schema.json`.
pub fn schema_json() -> String {
    let mut s = serde_json::to_string_pretty(schema_value()).unwrap_or_default();
    s.push('\n');
    s
}
