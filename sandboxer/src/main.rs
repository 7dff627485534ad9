//! The `sandboxer` command line: parses arguments, runs the library's operations,
//! renders their results. See `cli/` and `docs/cli.md`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
