//! The one place the async runtime is built: the jobs that fetch (snapshot, run, demo) and the
//! stand-in all run on one of these.

use crate::app::Error;

/// How many threads the runtime runs tasks on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// The calling thread only: one request at a time.
    Current,
    /// A pool of this many workers.
    Workers(usize),
    /// A pool of one worker per core.
    PerCore,
}

/// A runtime with time and I/O enabled.
pub fn runtime(threads: Threads) -> Result<tokio::runtime::Runtime, Error> {
    let mut builder = match threads {
        Threads::Current => tokio::runtime::Builder::new_current_thread(),
        Threads::Workers(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n.max(1));
            b
        }
        Threads::PerCore => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build().map_err(|e| Error::Internal {
        what: format!("cannot start the async runtime: {e}"),
    })
}
