//! The task's own notions, used by every other layer and using none: its fields, what "the same
//! config" means, the diff of two configs, moments in time and the clock; and the exit codes
//! every command shares.

pub mod answer;
pub mod canonical;
pub mod clock;
pub mod diff;
pub mod exit;
pub mod fields;
pub mod in_force;
pub mod journal_time;
pub mod normalize;
pub mod restore;
pub mod source;
pub mod text;
pub mod when;
