use std::process::ExitCode;

use clap::Parser;
use signalbox::cli::{Cli, Command};
use signalbox::config::Config;

fn main() -> ExitCode {
    signalbox::tls::install_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = match Config::load(&args) {
                Ok(c) => c,
                Err(e) => return fail(&e),
            };
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(&config.log)).init();
            let system = actix_rt::System::new();
            match system.block_on(signalbox::server::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        other => signalbox::cli::run(&cli.global, other),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("signalbox: {message}");
    ExitCode::FAILURE
}
