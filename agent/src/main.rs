//! `sandboxer-agent serve | connect | untar`: the agent daemon, a connection to
//! it on stdin and stdout (starting it when needed), or one tar stream on stdin
//! unpacked.

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: sandboxer-agent connect | serve | untar FOLDER | --version\n  \
         connect  join stdin and stdout to the agent of this sandbox (starting it)\n  \
         serve    be the agent (connect starts it)\n  \
         untar    unpack the tar stream on stdin into FOLDER; print the answer\n           \
         (fs/tar_put's result, or its error) as one JSON line"
    );
    ExitCode::from(2)
}

/// `untar FOLDER`: a whole upload in one stream (what an extension feeds when
/// the host hands it the bytes raw), unpacked as a chunked one is.
fn untar(folder: &str) -> ExitCode {
    let stdin = std::io::stdin().lock();
    let reader = std::io::BufReader::with_capacity(256 * 1024, stdin);
    let (answer, code) = match sandboxer_agent::trees::unpack_whole(folder.as_ref(), reader) {
        Ok(received) => (
            serde_json::to_value(sandboxer_ext_protocol::FsTarPutResult {
                transfer_id: "stream".into(),
                received,
            })
            .expect("results serialize"),
            ExitCode::SUCCESS,
        ),
        Err(e) => (
            serde_json::to_value(&e).expect("errors serialize"),
            ExitCode::FAILURE,
        ),
    };
    println!("{answer}");
    code
}

fn main() -> ExitCode {
    let verb = std::env::args().nth(1);
    if verb.as_deref() == Some("--version") {
        println!("sandboxer-agent {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if verb.as_deref() == Some("untar") {
        return match std::env::args().nth(2) {
            Some(folder) if std::env::args().len() == 3 => untar(&folder),
            _ => usage(),
        };
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
