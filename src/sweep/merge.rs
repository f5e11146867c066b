//! `rewind merge DIR...`: join the folders of a sweep's shards (or of any runs of one
//! sweep) into one sweep folder, the same bytes a sweep on one machine writes:
//! `sweep.json` without the shard, every point, `sweep.csv` and the map.
//!
//! It refuses, before writing anything, folders that are not shares of one sweep
//! (another file, grid, seeds, duration or version) and a grid with any point missing
//! from all of them. The output folder is replaced whole, as a replay's is.

use std::fs;
use std::path::{Path, PathBuf};

use super::store::{manifest_json, point_json, read_manifest, read_point, MANIFEST};
use super::{finished_records, write_results};
use crate::app::{write_stdout, AppError};
use crate::outdir::OutputDir;

/// Options of `rewind merge`.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// The shards' folders.
    pub dirs: Vec<PathBuf>,
    /// Where the merged sweep goes (default `output/<stem>-sweep`).
    pub out: Option<PathBuf>,
    /// No heatmap.
    pub no_charts: bool,
    /// Nothing printed on success.
    pub quiet: bool,
}

/// `rewind merge`.
pub fn merge(opts: &MergeOptions) -> Result<(), AppError> {
    let Some(first_dir) = opts.dirs.first() else {
        return Err(AppError::Usage(
            "give the folders of the sweep's shards".into(),
        ));
    };
    let manifests = opts
        .dirs
        .iter()
        .map(|d| read_manifest(d))
        .collect::<Result<Vec<_>, _>>()?;
    let first = &manifests[0];
    for (dir, m) in opts.dirs.iter().zip(&manifests).skip(1) {
        if let Some(what) = first.differs_from(m) {
            return Err(AppError::Usage(format!(
                "{} and {} are not shares of one sweep: {what} differs",
                first_dir.display(),
                dir.display()
            )));
        }
    }
    let grid = first.grid();
    if grid.points() != first.points || first.seeds.is_empty() {
        return Err(AppError::Usage(format!(
            "{}: the grid of {} points does not match its axes",
            first_dir.join(MANIFEST).display(),
            first.points
        )));
    }
    // Missing shards are named by the shard count of the folders given.
    let mut manifest = first.clone();
    let records = finished_records(&manifest, |key| {
        for d in &opts.dirs {
            if let Some(r) = read_point(d, key)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    })?;
    manifest = manifest.whole();
    let out = opts.out.clone().unwrap_or_else(|| {
        let stem = Path::new(&manifest.incident)
            .file_stem()
            .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned());
        Path::new("output").join(format!("{stem}-sweep"))
    });
    refuse_an_input(&out, &opts.dirs)?;
    let mut files: Vec<(String, Vec<u8>)> = vec![(MANIFEST.into(), manifest_json(&manifest))];
    for r in &records {
        files.push((super::points::point_file(&r.key), point_json(r)));
    }
    let written = write_results(&manifest, &records, opts.no_charts, |name, bytes| {
        files.push((name.to_string(), bytes.to_vec()));
        Ok(())
    })?;
    let claim = OutputDir::claim(&out, None, &first_dir.join(MANIFEST))?;
    claim.commit(&files, &[])?;
    if !opts.quiet {
        write_stdout(&format!(
            "merged {}: {} x {}\nwrote {}/: {}, sweep.json, points/\n",
            super::count(opts.dirs.len(), "folder"),
            super::count(manifest.points, "point"),
            super::count(manifest.seeds.len(), "seed"),
            out.display(),
            written.join(", ")
        ))?;
    }
    Ok(())
}

/// The merged folder replaces `out` whole: it must not be, or hold, a folder it reads.
fn refuse_an_input(out: &Path, dirs: &[PathBuf]) -> Result<(), AppError> {
    let Ok(out_real) = fs::canonicalize(out) else {
        // Not there yet: it holds nothing.
        return Ok(());
    };
    for d in dirs {
        let Ok(real) = fs::canonicalize(d) else {
            continue;
        };
        if real.starts_with(&out_real) {
            return Err(AppError::Usage(format!(
                "--out {} holds {}, which the merge reads, and the merged folder replaces it whole: choose another --out",
                out.display(),
                d.display()
            )));
        }
    }
    Ok(())
}
