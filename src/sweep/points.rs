//! What a sweep keeps: its manifest (`sweep.json`: which file, grid, seeds and
//! version it is) and one record per finished point (`points/<key>.json`: the
//! figures of each seed's replay).
//!
//! A point's key is the SHA-256 of everything that decides its replays: rewind's
//! version, the incident file's text (by its digest), the seeds, the `--duration` and
//! `--max-events` given, and the point's overrides. A changed file, flag or version
//! gives other keys, so a resumed sweep never takes a stale point for a finished one;
//! a point shared by two grids (a value added to an axis) is found again. The grid
//! itself is not in the key, but it is in the manifest, which `merge` compares.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::grid::{Axis, Grid, Shard};
use crate::model::spec::Scenario;
use crate::outcome::regimes::Role;
use crate::outcome::RunResult;

/// `sweep.json`: the identity of a sweep, the same in every shard but for `shard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The version that replayed the points.
    pub rewind_version: String,
    /// The incident file's name (its folder is not part of the sweep's identity).
    pub incident: String,
    /// The incident's title, for the heatmap.
    pub title: String,
    /// SHA-256 of the incident file's text, hex.
    pub incident_sha256: String,
    /// The seeds every point is replayed with: the first and the next `runs - 1`.
    pub seeds: Vec<u64>,
    /// `--duration`, when given (exactly, as `10m 30s`).
    pub duration: Option<String>,
    /// `--max-events`, when given.
    pub max_events: Option<u64>,
    /// The axes, in the order of the `--vary` flags.
    pub vary: Vec<Axis>,
    /// How many points the grid has.
    pub points: usize,
    /// This folder's share of the points, when the sweep is split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

/// The layout of a point's record: a record of another layout is never read as one
/// of this (it is under another key). Raise it when [`PointRecord`] changes.
const RECORD_LAYOUT: u32 = 1;

/// What a point's key is the digest of.
#[derive(Serialize)]
struct KeyInput<'a> {
    record_layout: u32,
    rewind_version: &'a str,
    incident_sha256: &'a str,
    seeds: &'a [u64],
    duration: Option<&'a str>,
    max_events: Option<u64>,
    set: &'a [(String, String)],
}

impl Manifest {
    /// The key of the point with overrides `set`, hex.
    pub fn key(&self, set: &[(String, String)]) -> String {
        let input = KeyInput {
            record_layout: RECORD_LAYOUT,
            rewind_version: &self.rewind_version,
            incident_sha256: &self.incident_sha256,
            seeds: &self.seeds,
            duration: self.duration.as_deref(),
            max_events: self.max_events,
            set,
        };
        // Serializing plain strings and numbers cannot fail; an empty input would
        // still give a key that matches no stored point.
        let bytes = serde_json::to_vec(&input).unwrap_or_default();
        hex(&Sha256::digest(&bytes))
    }

    /// The grid the manifest describes.
    pub fn grid(&self) -> Grid {
        Grid {
            axes: self.vary.clone(),
        }
    }

    /// The same sweep with no shard: what a whole sweep's folder, or a merge, holds.
    pub fn whole(&self) -> Manifest {
        Manifest {
            shard: None,
            ..self.clone()
        }
    }

    /// Whether `other` is a share of the same sweep; if not, what differs.
    pub fn differs_from(&self, other: &Manifest) -> Option<&'static str> {
        if self.rewind_version != other.rewind_version {
            Some("rewind's version")
        } else if self.incident_sha256 != other.incident_sha256 {
            Some("the incident file's text")
        } else if self.vary != other.vary {
            Some("the grid (--vary)")
        } else if self.seeds != other.seeds {
            Some("the seeds (--seed, --runs)")
        } else if self.duration != other.duration {
            Some("--duration")
        } else if self.max_events != other.max_events {
            Some("--max-events")
        } else {
            None
        }
    }
}

/// The file name of a point in the folder: `points/` and its key's first 128 bits.
pub fn point_file(key: &str) -> String {
    format!("points/{}.json", &key[..key.len().min(32)])
}

/// SHA-256 of a text, hex.
pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `points/<key>.json`: one finished point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointRecord {
    /// The point's key, whole.
    pub key: String,
    /// Its overrides, `(path, value)`.
    pub set: Vec<(String, String)>,
    /// The timeline entry recovery is measured from (see [`recovery_mark`]), as the
    /// report names it; None when the timeline has none.
    pub recovery_from: Option<String>,
    /// One entry per seed, in the manifest's order.
    pub runs: Vec<SeedFigures>,
}

/// What one replay of a point gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFigures {
    /// The seed.
    pub seed: u64,
    /// Requests the clients sent (first attempts: the users' demand).
    pub sent: u64,
    /// Requests that failed in the end (after any retries).
    pub failed: u64,
    /// The first 5xx at any gateway, seconds; None: there was none.
    pub first_5xx_s: Option<f64>,
    /// Whether the system was healthy again after the recovery mark (as
    /// `summary.json`'s `recovered_after_s`); None without a mark.
    pub recovered: Option<bool>,
    /// How long after the mark it was healthy again, seconds; None: never (or no mark).
    pub recover_s: Option<f64>,
}

/// The timeline entry a sweep measures recovery from: the last trigger's end (did it
/// come back once its cause was gone?), else the last fix, else the first trigger;
/// None when no entry says what it is (`role:`).
pub fn recovery_mark(s: &Scenario) -> Option<usize> {
    let last = |role: Role| s.timeline.iter().rposition(|e| e.role == Some(role));
    last(Role::TriggerEnd)
        .or_else(|| last(Role::Fix))
        .or_else(|| {
            s.timeline
                .iter()
                .position(|e| e.role == Some(Role::Trigger))
        })
}

/// How a report names a timeline entry: its `id`, else its label, else its time.
pub fn mark_name(s: &Scenario, i: usize) -> String {
    let e = &s.timeline[i];
    let name =
        e.id.clone()
            .or_else(|| e.label.clone())
            .unwrap_or_else(|| format!("the entry at {}", crate::human::exact_duration(e.at)));
    match e.role {
        Some(role) => format!("{name} ({})", role.name()),
        None => name,
    }
}

impl SeedFigures {
    /// Read a replay of `s` (with seed `s.seed`).
    pub fn of(s: &Scenario, r: &RunResult) -> SeedFigures {
        let mark = recovery_mark(s);
        let after = mark.and_then(|i| r.regimes.recovered_after.get(i).copied().flatten());
        SeedFigures {
            seed: s.seed,
            sent: r.clients.iter().map(|c| c.sent).sum(),
            failed: r.clients.iter().map(|c| c.failed).sum(),
            first_5xx_s: r.first_5xx().map(|(t, _)| t.as_secs_f64()),
            recovered: mark.map(|_| after.is_some()),
            recover_s: after.map(|t| t.as_secs_f64()),
        }
    }
}
