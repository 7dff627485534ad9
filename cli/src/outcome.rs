//! What running a command comes to: success, sandboxer's own error, or stdout
//! going away (which `main` maps to exit codes).

use sandboxer_core::Error;

/// Why a command failed: sandboxer's own error, or stdout going away.
pub enum Failure {
    Sandboxer(Error),
    Output(std::io::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Sandboxer(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Output(e)
    }
}

impl From<sandboxer_core::store::StoreError> for Failure {
    fn from(e: sandboxer_core::store::StoreError) -> Self {
        Failure::Sandboxer(e.into())
    }
}

pub type Outcome = Result<(), Failure>;
