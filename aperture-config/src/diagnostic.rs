//! Diagnostics: what is wrong with a config, where, and how bad.

use std::fmt;

use serde::Serialize;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, never fails anything (deprecated but supported keys, planned features).
    Info,
    /// The config loads, with this part ignored or defaulted; strict mode fails on it.
    Warning,
    /// The config does not load.
    Error,
}

impl Severity {
    /// The lowercase name used in text and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How warnings are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Startup and reload: warnings are reported and the config loads.
    #[default]
    Load,
    /// `PUT /api/config`, `POST /aperture/config:validate`, `validate --strict`: warnings count
    /// as errors (and are reported with severity `error`).
    Strict,
}

/// One problem found in a config.
///
/// `path` is an RFC 6901 JSON pointer (`""` for the whole document); `line` and `column` are
/// 1-based, in Unicode scalar values, and absent when the config did not come from text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// How serious it is.
    pub severity: Severity,
    /// Where in the document, as a JSON pointer.
    pub path: String,
    /// 1-based line of the key or value, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column of the key or value, in Unicode scalar values, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// What is wrong, in Aperture's words where Aperture has a rule for it.
    pub message: String,
    /// A hint such as `did you mean "baseurl"?`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `path` with no position yet.
    pub fn new(severity: Severity, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity,
            path: path.into(),
            line: None,
            column: None,
            message: message.into(),
            help: None,
        }
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Renders the diagnostic like a compiler would:
    /// `FILE:LINE:COL: severity: message (pointer)`, then `  help: …` on its own line.
    pub fn render(&self, file: &str) -> String {
        let mut out = String::new();
        match (self.line, self.column) {
            (Some(l), Some(c)) => out.push_str(&format!("{file}:{l}:{c}: ")),
            _ => out.push_str(&format!("{file}: ")),
        }
        out.push_str(&format!("{}: {}", self.severity, self.message));
        if !self.path.is_empty() {
            out.push_str(&format!(" ({})", self.path));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("\n  help: {help}"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render("config"))
    }
}

/// Every diagnostic found in one pass, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// No diagnostics.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// All of them, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// The diagnostics of a given severity.
    pub fn of(&self, severity: Severity) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(move |d| d.severity == severity)
    }

    /// The first diagnostic whose message equals `message`, if any.
    pub fn find(&self, message: &str) -> Option<&Diagnostic> {
        self.0.iter().find(|d| d.message == message)
    }

    /// Sorts by position (unpositioned ones last, in the order they were found).
    pub(crate) fn sort(&mut self) {
        self.0
            .sort_by_key(|d| (d.line.unwrap_or(u32::MAX), d.column.unwrap_or(u32::MAX)));
    }

    /// In strict mode, turns every warning into an error.
    pub(crate) fn apply_mode(&mut self, mode: Mode) {
        if mode == Mode::Strict {
            for d in &mut self.0 {
                if d.severity == Severity::Warning {
                    d.severity = Severity::Error;
                }
            }
        }
    }

    /// Renders every diagnostic with [`Diagnostic::render`], one per line.
    pub fn render(&self, file: &str) -> String {
        let mut out = String::new();
        for d in &self.0 {
            out.push_str(&d.render(file));
            out.push('\n');
        }
        out
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<T: IntoIterator<Item = Diagnostic>>(&mut self, iter: T) {
        self.0.extend(iter);
    }
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/` (RFC 6901).
pub fn pointer_push(pointer: &str, token: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + token.len() + 1);
    out.push_str(pointer);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_escapes() {
        assert_eq!(pointer_push("/providers", "a/b~c"), "/providers/a~1b~0c");
    }

    #[test]
    fn renders_like_a_compiler() {
        let mut d = Diagnostic::new(
            Severity::Warning,
            "/providers/openai/basurl",
            "unknown config key \"basurl\"",
        )
        .with_help("did you mean \"baseurl\"?");
        d.line = Some(12);
        d.column = Some(7);
        assert_eq!(
            d.render("aperture.json"),
            "aperture.json:12:7: warning: unknown config key \"basurl\" (/providers/openai/basurl)\n  help: did you mean \"baseurl\"?"
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["severity"], "warning");
        assert_eq!(json["line"], 12);
    }

    #[test]
    fn strict_mode_promotes_warnings_only() {
        let mut ds = Diagnostics::new();
        ds.push(Diagnostic::new(Severity::Warning, "", "w"));
        ds.push(Diagnostic::new(Severity::Info, "", "i"));
        assert!(!ds.has_errors());
        ds.apply_mode(Mode::Strict);
        assert!(ds.has_errors());
        assert_eq!(ds.of(Severity::Info).count(), 1);
    }
}
