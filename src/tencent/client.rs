//! The HTTP client for the TCSS API.
pub struct Client;
pub struct ClientOptions;
pub struct Endpoint;
pub struct Fetched;
