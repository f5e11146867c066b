//! The world being simulated: clients, gateways, services with replicas, connection
//! pools, databases and batch jobs, wired as a graph and driven by the engine.
//!
//! The model knows nothing of YAML, command lines or charts: it is built from the plain
//! [`spec`] types and returns a plain [`crate::outcome::RunResult`]. One module per component
//! kind owns that component's state and rules; `world` is the registry and dispatch.

pub mod dist;
pub mod spec;
pub mod topology;

pub mod admission;
pub mod autoscaler;
mod body;
pub mod breaker;
mod cache;
mod caching;
mod caller;
mod client;
mod cpu;
mod database;
mod event;
mod fault;
pub mod fds;
mod gateway;
mod handler;
mod hpa;
mod job;
mod kubelet;
mod listener;
mod memory;
mod metrics;
mod pool;
pub mod probe;
mod processor;
mod replica;
mod request;
pub mod retry;
mod rollout;
mod rotation;
mod routes;
pub mod runtime;
mod service;
mod tally;
mod timeline;
mod world;

pub use metrics::{components, metric_columns};
pub use world::{estimate_events, replay, replay_watched, World};
