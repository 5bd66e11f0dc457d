//! Credentials: environment, then the INI profile file.
pub struct Credentials;
pub struct CredentialSource;
