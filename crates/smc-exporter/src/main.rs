use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    smc_exporter::cli::main_with(smc_exporter::cli::Cli::parse())
}
