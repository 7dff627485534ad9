//! `sandboxer-agent serve | connect`: the agent daemon, or a connection to it
//! on stdin and stdout (starting it when needed).

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: sandboxer-agent connect | serve | --version\n  \
         connect  join stdin and stdout to the agent of this sandbox (starting it)\n  \
         serve    be the agent (connect starts it)"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let verb = std::env::args().nth(1);
    if verb.as_deref() == Some("--version") {
        println!("sandboxer-agent {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if !matches!(verb.as_deref(), Some("serve" | "connect")) {
        return usage();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime starts");
    let outcome = runtime.block_on(async {
        let name = sandboxer_agent::socket::name()?;
        match verb.as_deref() {
            Some("serve") => sandboxer_agent::socket::serve(&name).await,
            _ => sandboxer_agent::socket::connect(&name).await,
        }
    });
    // Commands and blocked reads of the agent are not waited for.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandboxer-agent: {e}");
            ExitCode::FAILURE
        }
    }
}
