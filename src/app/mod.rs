//! The application layer: the jobs that hold a store and a client together (snapshot, check, the
//! nightly run and `audit run`'s resolution of its targets and policies, what is new for each
//! alert destination, baselines and restores, verify with witnesses, the demo, report
//! gathering, import, the run lock), and the one error type whose mapping decides every exit
//! code.

pub mod baseline;
pub mod check;
pub mod config;
pub mod demo;
pub mod error;
pub mod import;
pub mod lock;
pub mod nightly;
pub mod notify;
pub mod organization;
pub mod output;
pub mod report;
pub mod restore;
pub mod run;
pub mod runtime;
pub mod snapshot;
pub mod verify;

pub use error::{Error, ExitCode, Result};

/// A recording command's last word on its signature line: broken, it recorded everything
/// unsigned and ends with exit 4 saying why.
pub fn signature_line(store: &crate::store::Store) -> Result<()> {
    match store.signature_line_broken() {
        Some(why) => Err(Error::SignatureLine(
            crate::task::text::visible(why).into_owned(),
        )),
        None => Ok(()),
    }
}
