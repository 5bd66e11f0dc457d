//! The answer model.
pub struct Answer;
pub struct ApiError;
