//! Renderers of a [`CheckReport`](super::CheckReport), one per `--format`.
