//! Output folders kept and added to: a sweep's, whose finished points must survive an
//! interrupted run so that the next one resumes.
//!
//! The folder is refused for the same reasons as a replaced one (not rewind's, a file,
//! a link, `.`, holding the incident file), and also when it is rewind's but holds
//! another command's output (it lacks the kind's own file, such as `sweep.json`). The
//! claim takes the same lock (`.NAME.lock` beside it), so a sweep and a replay never
//! write one folder at once. Nothing is swapped: each file is written under
//! `.FILE.tmp-PID` beside it and renamed over its name, so a reader sees the previous
//! file or the new one, whole. A claim removes nothing but the `.FILE.tmp-PID` files
//! of runs that were killed (marked folder, process gone) and, through
//! [`InPlaceDir::remove`], files its caller names as its own.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{
    create_dirs, dotted, inspect, install_signal_cleanup, io_err, lock, make_marked, process_alive,
    registry, split, sync_dir, write_file, OutDirError, Undo, MARKER,
};

/// A claim on a folder that is added to, not replaced. Dropped, it releases the lock.
#[derive(Debug)]
pub struct InPlaceDir {
    folder: PathBuf,
    /// This claim's entry in the registry (the lock, undone on a signal).
    id: u64,
    _lock: fs::File,
}

impl InPlaceDir {
    /// Claim `folder` (made and marked when absent) for a run that reads `input`.
    /// `own` is the file that says a folder holds this kind of output: a marked folder
    /// with other files and without it is refused.
    pub fn claim(folder: &Path, input: &Path, own: &str) -> Result<Self, OutDirError> {
        let (parent, name) = split(folder)?;
        inspect(folder, input)?;
        check_kind(folder, own)?;
        install_signal_cleanup()?;
        let mut registry = registry();
        let mut undo = Undo::default();
        let made = (|| {
            create_dirs(&parent, &mut undo.made_dirs)?;
            let lock = lock(&parent.join(dotted(&name, "lock")), folder, &mut undo)?;
            // Again under the lock: the folder may have changed since the first look.
            inspect(folder, input)?;
            check_kind(folder, own)?;
            // Never undone: from here on the folder is rewind's, whatever happens.
            make_marked(folder)?;
            remove_leftover_files(folder);
            Ok(lock)
        })();
        match made {
            Ok(lock) => {
                registry.next_id += 1;
                let id = registry.next_id;
                registry.claims.push((id, undo));
                Ok(InPlaceDir {
                    folder: folder.to_path_buf(),
                    id,
                    _lock: lock,
                })
            }
            Err(e) => {
                undo.run();
                Err(e)
            }
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.folder
    }

    /// Write `rel` (a name in the folder, maybe in a sub-folder: `points/x.json`)
    /// whole: under a temporary name, then renamed over the previous file.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<(), OutDirError> {
        let path = self.folder.join(rel);
        let dir = path.parent().unwrap_or(&self.folder).to_path_buf();
        let file_name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let tmp = dir.join(dotted(&file_name, &format!("tmp-{}", std::process::id())));
        // Held while the file is written and renamed, so that a signal's clean-up
        // waits for it: an interruption never leaves a temporary file.
        let _registry = registry();
        fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let written = write_file(&tmp, bytes).and_then(|()| fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(format!("writing {}", path.display()))(e));
        }
        sync_dir(&dir);
        Ok(())
    }

    /// Remove `rel`, a file of the caller's own that is no longer true (a previous
    /// sweep's table); nothing happens when it is absent.
    pub fn remove(&self, rel: &str) -> Result<(), OutDirError> {
        let path = self.folder.join(rel);
        let _registry = registry();
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(format!("removing {}", path.display()))(e)),
        }
    }
}

impl Drop for InPlaceDir {
    fn drop(&mut self) {
        let mut registry = registry();
        if let Some(pos) = registry.claims.iter().position(|(id, _)| *id == self.id) {
            let (_, undo) = registry.claims.remove(pos);
            undo.run();
        }
    }
}

/// Refuse a marked folder that holds something and lacks `own`: another command's
/// output, which this one would mix its files into.
fn check_kind(folder: &Path, own: &str) -> Result<(), OutDirError> {
    let Ok(entries) = fs::read_dir(folder) else {
        // Absent (or unreadable, which the claim reports when it writes).
        return Ok(());
    };
    let mut others = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name == own {
            return Ok(());
        }
        others |= name != MARKER;
    }
    if others {
        return Err(OutDirError::Refused(format!(
            "the output folder {} holds another rewind command's output (it has no {own}): \
             choose another folder with --out",
            folder.display()
        )));
    }
    Ok(())
}

/// Remove the `.FILE.tmp-PID` files that killed runs left in `folder` and its
/// sub-folders (one level): only when that process is gone.
fn remove_leftover_files(folder: &Path) {
    let mut dirs = vec![folder.to_path_buf()];
    if let Ok(entries) = fs::read_dir(folder) {
        dirs.extend(
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
    }
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let pid = name
                .strip_prefix('.')
                .and_then(|rest| rest.rsplit_once(".tmp-"))
                .and_then(|(_, pid)| pid.parse::<u32>().ok());
            let Some(pid) = pid else { continue };
            if pid != std::process::id() && process_alive(pid) {
                continue;
            }
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}
