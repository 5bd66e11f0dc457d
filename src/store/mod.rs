//! The SQLite history: open and migrate, record snapshots, configs once, the hash chain, queries.

/// What can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {message}")]
    Sqlite { path: String, message: String },
}

impl StoreError {
    pub fn exit_code(&self) -> crate::ExitCode {
        crate::ExitCode::Storage
    }
}
