//! What a command is to E2B: the checks every way of running one makes (an
//! argv, no part by name), and how envd's end of a process reads to
//! sandboxer (a signal is 128 + its number, as a shell reports it).

use sandboxer_e2b::envd::EndEvent;
use sandboxer_ext_protocol::ExecExit;
use sandboxer_ext_protocol::sdk::{ErrorObject, ExtResult};

/// Refuses a part by name: an E2B sandbox is one machine.
pub fn no_service(service: &Option<String>) -> ExtResult<()> {
    match service {
        Some(s) => Err(ErrorObject::invalid_argument(
            "service",
            format!("an E2B sandbox has no part named {s:?}: it is one machine"),
        )),
        None => Ok(()),
    }
}

/// Refuses what no E2B sandbox can run: an empty argv, a part by name.
pub fn check(argv: &[String], service: &Option<String>) -> ExtResult<()> {
    if argv.is_empty() {
        return Err(ErrorObject::invalid_argument(
            "argv",
            "argv is empty: name a command",
        ));
    }
    no_service(service)
}

/// How envd's end reads to sandboxer: a signal is 128 + its number.
pub fn exit_of(end: &EndEvent, next_seq: u64) -> ExecExit {
    if end.exited {
        return ExecExit {
            exit_code: end.exit_code,
            signal: None,
            timed_out: false,
            next_seq,
        };
    }
    let signal = match end.status.strip_prefix("signal: ").unwrap_or(&end.status) {
        "hangup" => 1,
        "interrupt" => 2,
        "terminated" => 15,
        _ => 9,
    };
    ExecExit {
        exit_code: 128 + signal,
        signal: Some(signal),
        timed_out: false,
        next_seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_reads_as_a_shell_reports_it() {
        let end = |exited, exit_code, status: &str| EndEvent {
            exit_code,
            exited,
            status: status.into(),
            error: None,
        };
        assert_eq!(exit_of(&end(true, 3, "exit status 3"), 1).exit_code, 3);
        let killed = exit_of(&end(false, -1, "signal: killed"), 0);
        assert_eq!((killed.exit_code, killed.signal), (137, Some(9)));
        assert_eq!(
            exit_of(&end(false, -1, "signal: terminated"), 0).exit_code,
            143
        );
    }
}
