//! Validate a config from code, the way another Rust service would before deploying it.
//!
//! ```text
//! cargo run -p aperture-examples --example validate_config -- docs/examples/team.hujson
//! ```

use aperture_config::{Loader, Mode, Severity};

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: validate_config FILE");
        return std::process::ExitCode::from(2);
    };
    let loaded = match Loader::new().mode(Mode::Strict).load_file(&path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    print!("{}", loaded.diagnostics.render(&path));
    match loaded.config {
        Some(config) => {
            for (id, p) in &config.providers {
                let flags: Vec<_> = p.compatibility.enabled().map(|f| f.name()).collect();
                println!(
                    "provider {id}: {} models, {:?}, endpoints {flags:?}",
                    p.models.len(),
                    p.auth_mode
                );
            }
            println!("{} grants", config.grants.len());
            std::process::ExitCode::SUCCESS
        }
        None => {
            let errors = loaded.diagnostics.of(Severity::Error).count();
            eprintln!("{path}: {errors} errors");
            std::process::ExitCode::from(1)
        }
    }
}
