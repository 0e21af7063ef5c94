//! The `manifold` command: `serve`, `check-config` and `version`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use manifold_config::{Config, Environment, Overrides};

/// A registry-side proxy that serves podman's manifest-list API and composes and pushes image
/// indexes directly against container registries.
#[derive(Debug, Parser)]
#[command(name = "manifold", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the libpod manifest API (and forward the rest to a backend podman service).
    Serve {
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        // `[tls]` is the TOML section's name in the help text, not a rustdoc link.
        #[allow(rustdoc::broken_intra_doc_links)]
        /// Where to listen: unix:///path.sock, tcp://HOST:PORT or tls://HOST:PORT (certificate
        /// from the configuration's [tls]); repeatable. Replaces the configuration's listeners.
        #[arg(long, value_name = "URI")]
        listen: Vec<String>,
        /// Where lists are stored.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The podman service other libpod calls go to: unix:///path.sock or tcp://HOST:PORT.
        #[arg(long, value_name = "URI")]
        backend: Option<String>,
    },
    /// Validate a configuration file and print the effective configuration.
    CheckConfig {
        /// Configuration file (TOML).
        file: PathBuf,
    },
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    // One TLS stack: rustls with ring, installed once for the process before pingora builds its
    // TLS settings. Library code never installs it (the composer names ring itself).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!(
                "manifold {} (libpod API {})",
                env!("CARGO_PKG_VERSION"),
                manifold_proxy::libpod::response::LIBPOD_API_VERSION
            );
            ExitCode::SUCCESS
        }
        Command::CheckConfig { file } => {
            match Config::load(
                Some(&file),
                &Overrides::default(),
                &Environment::from_process(),
            ) {
                Ok(config) => {
                    print!("{}", config.to_toml());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("manifold: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Serve {
            config,
            listen,
            data_dir,
            backend,
        } => {
            let overrides = Overrides {
                listen,
                data_dir,
                backend,
            };
            let config =
                match Config::load(config.as_deref(), &overrides, &Environment::from_process()) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("manifold: {e}");
                        return ExitCode::from(2);
                    }
                };
            manifold_proxy::server::init_logging();
            if config.has_configured_credentials() {
                tracing::info!(
                    "configured registry credentials serve: {}",
                    config.policy.configured_credentials_serve()
                );
            }
            match manifold_proxy::server::serve(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("manifold: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
