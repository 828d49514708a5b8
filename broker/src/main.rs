use std::process::ExitCode;

use signalbox::cli::Invocation;
use signalbox::config::Config;

fn main() -> ExitCode {
    signalbox::tls::install_provider();
    let invocation = match signalbox::cli::parse() {
        Ok(invocation) => invocation,
        Err(e) => return usage_error(e),
    };
    match invocation {
        Invocation::Serve(args) => {
            let config = match Config::load(&args) {
                Ok(c) => c,
                Err(e) => return fail(&e),
            };
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(&config.log))
                // actix-http logs an ERROR for every request it cannot parse (and answers it 400):
                // anyone could flood the log with one line per malformed request.
                .filter_module("actix_http::h1::dispatcher", log::LevelFilter::Off)
                .init();
            let system = actix_rt::System::new();
            match system.block_on(signalbox::server::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        Invocation::Client(flags, command) => signalbox::cli::run(&flags, command),
    }
}

/// Help and version print as clap writes them; a usage error is one line on stderr, exit 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
        || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    {
        e.exit();
    }
    // The message is the text before clap's usage block and tips, on one line.
    let rendered = e.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
        .map(|l| l.trim().trim_start_matches("error: "))
        .collect();
    eprintln!("signalbox: {} (see --help)", message.join(" "));
    ExitCode::from(2)
}

/// A start-up refusal is one line on stderr, exit 1 — also when the reason came with line breaks
/// of its own (libpq's connection errors do).
fn fail(message: &str) -> ExitCode {
    let one_line: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    eprintln!("signalbox: {}", one_line.join(" "));
    ExitCode::FAILURE
}
