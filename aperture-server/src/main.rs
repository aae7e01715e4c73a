//! The `aperture` binary: everything lives in the library so tests can run it in-process.

fn main() -> std::process::ExitCode {
    aperture_server::cli::run(std::env::args().skip(1).collect())
}
