//! The `sandboxer` binary: the command line (`sandboxer_cli`) with the daemon
//! (`sandboxer_server`) behind `sandboxer serve`, and what `serve` prints.

use sandboxer_core::operations::Core;
use sandboxer_server::Notice;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

/// mimalloc: listing thousands of sandboxes is mostly small allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sandboxer_cli::main(serve)
}

fn serve(
    core: Core,
    state: PathBuf,
    listen: Option<String>,
) -> Pin<Box<dyn Future<Output = sandboxer_core::Result<()>>>> {
    Box::pin(async move { sandboxer_server::serve(core, &state, listen, print_notice).await })
}

/// What `serve` prints: where it listens on stdout (scripts read that line),
/// everything else on stderr.
fn print_notice(notice: Notice) {
    match notice {
        Notice::TokenWritten(file) => eprintln!(
            "no tokens configured: an admin token for this run is in {}",
            file.display()
        ),
        Notice::Listening(at) => println!("sandboxer daemon listening on http://{at}"),
        Notice::ShuttingDown => eprintln!("shutting down: finishing requests in flight"),
    }
}
