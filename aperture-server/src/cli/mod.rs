//! The `aperture` command line.
//!
//! ```text
//! aperture serve [--config PATH] [--listen ADDR] [--log-format text|json]
//! aperture config validate [--strict] [--format text|json] FILE
//! aperture config schema
//! aperture version
//! ```
//!
//! `config validate` exits 0 when the config is valid, 1 when it has errors (in `--strict`
//! mode, warnings too), and 2 when the file cannot be read or the command line is wrong.

use std::io::Write;
use std::process::ExitCode;

use aperture_config::{Loader, Mode};

mod logging;
mod serve_cmd;

const USAGE: &str = "usage:
  aperture serve [--config PATH] [--listen ADDR] [--log-format text|json]
  aperture config validate [--strict] [--format text|json] FILE
  aperture config schema
  aperture version
";

/// Runs the command line with `args` (without the program name) and returns the exit code.
pub fn run(args: Vec<String>) -> ExitCode {
    // Not locked: `serve` runs for the life of the process and other threads log to stderr.
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let code = dispatch(&args, &mut out, &mut err);
    let _ = out.flush();
    ExitCode::from(code)
}

/// Runs a command, writing to the given streams; returns the exit code.
pub fn dispatch(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["serve", rest @ ..] => crate::cli::serve_cmd::run(rest, out, err),
        ["config", "validate", rest @ ..] => validate(rest, out, err),
        ["config", "schema"] => {
            let _ = out.write_all(aperture_config::schema_json().as_bytes());
            0
        }
        ["version"] | ["--version"] | ["-V"] => {
            let _ = writeln!(out, "aperture {}", env!("CARGO_PKG_VERSION"));
            0
        }
        ["help"] | ["--help"] | ["-h"] => {
            let _ = out.write_all(USAGE.as_bytes());
            0
        }
        _ => usage(err, "unknown command"),
    }
}

pub(crate) fn usage(err: &mut dyn Write, problem: &str) -> u8 {
    let _ = write!(err, "aperture: {problem}\n{USAGE}");
    2
}

#[derive(PartialEq)]
enum Format {
    Text,
    Json,
}

fn validate(args: &[&str], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut mode = Mode::Load;
    let mut format = Format::Text;
    let mut file = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match *arg {
            "--strict" => mode = Mode::Strict,
            "--format" => match it.next().copied() {
                Some("text") => format = Format::Text,
                Some("json") => format = Format::Json,
                _ => return usage(err, "--format takes text or json"),
            },
            "--format=text" => format = Format::Text,
            "--format=json" => format = Format::Json,
            a if a.starts_with('-') && a != "-" => return usage(err, &format!("unknown flag {a}")),
            a if file.is_none() => file = Some(a),
            _ => return usage(err, "config validate takes one FILE"),
        }
    }
    let Some(file) = file else {
        return usage(err, "config validate needs a FILE");
    };
    let loader = Loader::new().mode(mode);
    let loaded = if file == "-" {
        let mut text = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
            let _ = writeln!(err, "aperture: cannot read standard input: {e}");
            return 2;
        }
        loader.load_str(&text)
    } else {
        match loader.load_file(file) {
            Ok(l) => l,
            Err(e) => {
                let _ = writeln!(err, "aperture: {e}");
                return 2;
            }
        }
    };
    let valid = loaded.is_ok();
    match format {
        Format::Json => {
            // Diagnostics are errors and warnings (SPEC.md §1.4); info notes stay in the text form.
            let diagnostics: Vec<_> = loaded
                .diagnostics
                .iter()
                .filter(|d| d.severity != aperture_config::Severity::Info)
                .collect();
            let body = serde_json::json!({ "Valid": valid, "diagnostics": diagnostics });
            let _ = writeln!(out, "{body}");
        }
        Format::Text => {
            let _ = out.write_all(loaded.diagnostics.render(file).as_bytes());
            let warnings = loaded
                .diagnostics
                .of(aperture_config::Severity::Warning)
                .count();
            let errors = loaded
                .diagnostics
                .of(aperture_config::Severity::Error)
                .count();
            let _ = if valid {
                writeln!(
                    out,
                    "{file}: valid ({warnings} warning{})",
                    plural(warnings)
                )
            } else {
                writeln!(
                    out,
                    "{file}: invalid ({errors} error{}, {warnings} warning{})",
                    plural(errors),
                    plural(warnings)
                )
            };
        }
    }
    if valid { 0 } else { 1 }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
