//! The sandbox lifecycle: states and the transitions allowed between them.
//!
//! ```text
//! pending → provisioning → ready → active ⇄ paused
//!    │           │           │       │         │
//!    └───────────┴──→ failed ├───────┴─────────┴──→ expired
//!                            ↓
//!        (any live state, failed, expired) → destroying → destroyed
//! ```
//!
//! (`ready` may be paused too; a resumed sandbox is `active`.)

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Recorded; the extension has not been called yet.
    Pending,
    /// The extension is building it.
    Provisioning,
    /// Built and reachable, not yet used.
    Ready,
    /// In use.
    Active,
    /// Frozen by a pause: processes and memory kept, billed at the profile's
    /// paused rate; a resume makes it `active` again.
    Paused,
    /// Being torn down (stays here until the extension confirms).
    Destroying,
    /// Gone. Terminal.
    Destroyed,
    /// Provisioning or the backend failed; resources may remain until destroyed.
    Failed,
    /// Its lifetime ran out; resources remain until destroyed.
    Expired,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Pending,
        State::Provisioning,
        State::Ready,
        State::Active,
        State::Paused,
        State::Destroying,
        State::Destroyed,
        State::Failed,
        State::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Provisioning => "provisioning",
            State::Ready => "ready",
            State::Active => "active",
            State::Paused => "paused",
            State::Destroying => "destroying",
            State::Destroyed => "destroyed",
            State::Failed => "failed",
            State::Expired => "expired",
        }
    }

    /// Whether the backend may hold resources for a sandbox in this state.
    pub fn may_hold_resources(self) -> bool {
        self != State::Destroyed
    }

    /// Whether this state is a usable sandbox.
    pub fn is_usable(self) -> bool {
        matches!(self, State::Ready | State::Active)
    }

    /// Whether time in this state is charged: the backend is working for it or it
    /// can be used. `expired` and `destroying` are not: the core is taking it away.
    pub fn is_billed(self) -> bool {
        matches!(
            self,
            State::Provisioning | State::Ready | State::Active | State::Paused
        )
    }

    /// Whether the sandbox exists and may be used again: usable, or paused.
    pub fn is_live(self) -> bool {
        matches!(self, State::Ready | State::Active | State::Paused)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown state {s:?}: it is one of {}", all.join(", "))
            })
    }
}

/// Whether a sandbox may move from `from` to `to`.
pub fn can_transition(from: State, to: State) -> bool {
    use State::*;
    matches!(
        (from, to),
        (Pending, Provisioning | Failed | Destroying)
            | (Provisioning, Ready | Failed | Destroying)
            | (Ready, Active | Paused | Failed | Expired | Destroying)
            | (Active, Paused | Failed | Expired | Destroying)
            | (Paused, Active | Failed | Expired | Destroying)
            | (Failed | Expired, Destroying)
            | (Destroying, Destroyed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_is_allowed() {
        use State::*;
        let path = [Pending, Provisioning, Ready, Active, Destroying, Destroyed];
        for pair in path.windows(2) {
            assert!(can_transition(pair[0], pair[1]), "{:?}", pair);
        }
    }

    #[test]
    fn destroyed_is_terminal_and_nothing_skips_destroying() {
        for to in State::ALL {
            assert!(!can_transition(State::Destroyed, to), "destroyed -> {to}");
            if to == State::Destroyed {
                for from in State::ALL {
                    assert_eq!(
                        can_transition(from, to),
                        from == State::Destroying,
                        "{from}"
                    );
                }
            }
        }
    }

    #[test]
    fn states_parse_back() {
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>(), Ok(s));
        }
        assert!("running".parse::<State>().unwrap_err().contains("pending"));
    }
}
