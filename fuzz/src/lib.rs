//! The targets, shared with the smoke test under `tests/` (one source, two drivers).

#[path = "../../tests/fuzz_targets.rs"]
pub mod targets;
