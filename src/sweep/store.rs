//! A sweep's folder on disk, kept and added to (see README, "Sweeps"):
//!
//! - `.rewind-output`, the marker of every rewind folder;
//! - `sweep.json`, the [`Manifest`], written when a run starts;
//! - `points/<key>.json`, one per finished point, written whole (a temporary name,
//!   then a rename) the moment its last seed's replay ends, and never removed;
//! - `sweep.csv`, `sweep.png`, `sweep.svg`, written whole when every point is done
//!   (not by a shard: `merge` writes them).
//!
//! A run into a folder whose `sweep.json` describes another sweep removes that
//! sweep's table and map first, so the folder never shows a table of one sweep beside
//! the manifest of another; its points stay, under keys this sweep never asks for.
//! Reading is read-only: `merge` reads shards' folders with [`read_manifest`] and
//! [`read_point`].

use std::fs;
use std::io;
use std::path::Path;

use super::points::{point_file, Manifest, PointRecord};
use crate::app::AppError;
use crate::outdir::InPlaceDir;

/// The manifest's file name.
pub const MANIFEST: &str = "sweep.json";
/// The files rendered from the points, replaced at the end of a run.
pub const RESULTS: [&str; 3] = ["sweep.csv", "sweep.png", "sweep.svg"];

/// A claimed sweep folder.
pub struct Store {
    dir: InPlaceDir,
}

impl Store {
    /// Claim `folder` for the sweep `manifest` of the incident file `input`, and
    /// write its manifest (removing another sweep's results first).
    pub fn open(folder: &Path, input: &Path, manifest: &Manifest) -> Result<Store, AppError> {
        let dir = InPlaceDir::claim(folder, input, MANIFEST)?;
        let previous = read_manifest(folder).ok();
        if previous.as_ref() != Some(manifest) {
            for name in RESULTS {
                dir.remove(name)?;
            }
        }
        dir.write(MANIFEST, &manifest_json(manifest))?;
        Ok(Store { dir })
    }

    /// The finished point with this key, if the folder holds it whole and it is
    /// the point asked for (a damaged or foreign file is taken as missing).
    pub fn finished(&self, key: &str) -> Option<PointRecord> {
        read_point(self.dir.path(), key).ok().flatten()
    }

    /// Keep a finished point.
    pub fn save(&self, record: &PointRecord) -> Result<(), AppError> {
        Ok(self
            .dir
            .write(&point_file(&record.key), &point_json(record))?)
    }

    /// Write one of the results.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), AppError> {
        Ok(self.dir.write(name, bytes)?)
    }
}

/// `sweep.json`'s bytes.
pub fn manifest_json(m: &Manifest) -> Vec<u8> {
    // A manifest holds strings and numbers only: it always serializes.
    let mut text = serde_json::to_string_pretty(m).unwrap_or_default();
    text.push('\n');
    text.into_bytes()
}

/// A point file's bytes.
pub fn point_json(r: &PointRecord) -> Vec<u8> {
    // Floats are finite or None (serialized as null): it always serializes.
    let mut text = serde_json::to_string_pretty(r).unwrap_or_default();
    text.push('\n');
    text.into_bytes()
}

/// The manifest of a sweep folder.
pub fn read_manifest(folder: &Path) -> Result<Manifest, AppError> {
    let path = folder.join(MANIFEST);
    let shown = path.display();
    let bytes = fs::read(&path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            AppError::Usage(format!(
                "{} is not a sweep's folder: it has no {MANIFEST}",
                folder.display()
            ))
        } else {
            AppError::Io {
                context: format!("reading {shown}"),
                source: e,
            }
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        AppError::Usage(format!(
            "{shown}: not a sweep manifest this version of rewind reads: {e}"
        ))
    })
}

/// The point with this key in `folder`: None when absent; an error when the file is
/// there but is not that point, whole.
pub fn read_point(folder: &Path, key: &str) -> Result<Option<PointRecord>, AppError> {
    let path = folder.join(point_file(key));
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(AppError::Io {
                context: format!("reading {}", path.display()),
                source: e,
            })
        }
    };
    let record: PointRecord = serde_json::from_slice(&bytes).map_err(|e| {
        AppError::Usage(format!(
            "{}: not a sweep point this version of rewind reads: {e}",
            path.display()
        ))
    })?;
    if record.key != key {
        return Err(AppError::Usage(format!(
            "{}: holds another point (key {}) than its name says",
            path.display(),
            record.key
        )));
    }
    Ok(Some(record))
}
