//! The world being simulated: clients, gateways, services with replicas, connection
//! pools, databases and batch jobs, wired as a graph and driven by the engine.
//!
//! The model knows nothing of YAML, command lines or charts: it is built from the plain
//! [`spec`] types and returns a plain [`outcome::RunResult`].

pub mod alerts;
pub mod dist;
pub mod outcome;
pub mod spec;
pub mod topology;
mod world;

pub use world::{estimate_events, metric_columns, replay, World};
