//! The `sandboxer` command line: parses arguments, runs the library's operations,
//! renders their results. See `cli/` and `docs/cli.md`.

mod cli;

/// mimalloc: listing thousands of sandboxes is mostly small allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
