//! Report models and their renderers, all writing to `impl Write`.

pub mod diff;
