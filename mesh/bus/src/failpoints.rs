//! Crash points for the fault tests: the process aborts at the exact windows where a crash
//! could lose or repeat work, when the `failpoints` feature is compiled in (test builds only)
//! and `FAILPOINTS` arms a point, e.g. `FAILPOINTS=consumer-before-offset-store=5%return`
//! (SIGKILL at 5 % of the passes). Without the feature the points compile to nothing.
//!
//! - `consumer-before-commit`: a consumer's transaction has applied a record (inbox row and
//!   projection writes) and is about to commit.
//! - `consumer-before-offset-store`: the transaction committed; the offset is not stored yet.
//! - `relay-before-mark`: the broker acknowledged a batch; the relay's checkpoint has not moved past it yet.

/// Arms the points named in `FAILPOINTS`; keep the guard for the life of the process.
#[cfg(feature = "failpoints")]
pub fn setup() -> Option<fail::FailScenario<'static>> {
    Some(fail::FailScenario::setup())
}

/// Without the `failpoints` feature there is nothing to arm.
#[cfg(not(feature = "failpoints"))]
pub fn setup() -> Option<()> {
    None
}

/// Kills the process with SIGKILL (no destructor, no flush, no goodbye to the broker, no core
/// dump), so a test tells a crash point's death from a panic or an exit.
#[cfg(feature = "failpoints")]
pub fn crash(name: &str) -> ! {
    // An error line: the log writer writes the lines waiting in its buffer first (the
    // SIGKILL below would lose them), then this one.
    tracing::error!(failpoint = name, "failpoint reached: killing the process");
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
    // The signal is delivered by the time `kill` returns; nothing here runs on.
    loop {
        std::thread::park();
    }
}

/// A point where an armed `return` action kills the process (see [`crash`]).
macro_rules! crash_point {
    ($name:literal) => {
        fail::fail_point!($name, |_| crate::failpoints::crash($name))
    };
}
pub(crate) use crash_point;
