//! The config file: targets, their endpoints and credentials, and defaults.

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("config file {path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}
