//! Output folders: the one place that creates, replaces and removes them.
//!
//! A run claims its folder before it simulates ([`OutputDir::claim`]). The folder must
//! be rewind's to replace: absent, empty, or carrying the [`MARKER`] file that every
//! output folder gets; it must not hold the incident file, be a file or a symbolic
//! link, or be named `.`, `..` or `/`. A claim locks the folder (`flock` on
//! `.NAME.lock` beside it), so one run at a time writes it, and makes the temporary
//! folder `.NAME.tmp-PID` beside it at once, marked too. [`OutputDir::commit`] writes
//! the files there and swaps the temporary folder for the previous one in one step
//! (`renameat2` with `RENAME_EXCHANGE` on Linux), then removes the previous one: the
//! folder's name points to a complete folder at every instant.
//!
//! A claim dropped without a commit (any error) removes what it made, and so does
//! SIGINT, SIGTERM or SIGHUP (then rewind exits with 128 + the signal's number). A run
//! killed outright leaves a marked `.NAME.tmp-PID`, which the next run for NAME removes
//! once it holds the lock and finds that process gone. Nothing unmarked is removed.
//!
//! Elsewhere than Linux, and on filesystems without `RENAME_EXCHANGE`, the swap is two
//! renames: the previous folder becomes `.NAME.old-PID` for an instant (a run killed
//! right then leaves the previous results there, marked). Outside Unix, the lock is a
//! lock file made with `create_new` (a killed run leaves it behind; the message says
//! to remove it) and signals are not caught.
//!
//! A sweep's folder is the one kept and added to instead ([`InPlaceDir`], in
//! `outdir/in_place.rs`): the same refusals and the same lock, but each file is
//! written whole under a temporary name and renamed into place, so finished work
//! survives an interrupted run.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use thiserror::Error;

mod in_place;
pub use in_place::InPlaceDir;

/// The file that says a folder was written by rewind, so that rewind may replace it.
pub const MARKER: &str = ".rewind-output";

const MARKER_TEXT: &str =
    "This folder was written by rewind, which replaces it whole at each run.\n";

/// Why an output folder could not be claimed or written.
#[derive(Debug, Error)]
pub enum OutDirError {
    /// The folder is not rewind's to replace (a bad `--out`; exit code 2).
    #[error("{0}")]
    Refused(String),
    /// Another run holds the folder's lock (exit code 1).
    #[error("{0}")]
    Busy(String),
    /// The filesystem failed (exit code 1).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's reason.
        source: io::Error,
    },
}

fn io_err(context: String) -> impl FnOnce(io::Error) -> OutDirError {
    move |source| OutDirError::Io { context, source }
}

/// One run's claim on an output folder: locked, with its temporary folder made.
/// Dropped without [`OutputDir::commit`], it removes what it made.
#[derive(Debug)]
pub struct OutputDir {
    /// The folder the run replaces (the incident's folder, or `compare/` inside it).
    target: PathBuf,
    /// Where the new folder is written, beside `target`.
    tmp: PathBuf,
    /// This claim's entry in [`REGISTRY`].
    id: u64,
    /// The open lock file; closing it releases the lock.
    _lock: fs::File,
}

/// What a claim made, undone on failure or on a signal: the temporary folder, the
/// markers written into folders that were not rewind's before, the lock file, the
/// folders created.
#[derive(Debug, Default)]
struct Undo {
    tmp: Option<PathBuf>,
    markers: Vec<PathBuf>,
    lock: Option<PathBuf>,
    made_dirs: Vec<PathBuf>,
}

impl Undo {
    fn run(&self) {
        if let Some(tmp) = &self.tmp {
            let _ = remove_any(tmp);
        }
        // Markers go before the lock is released, so no other run sees a folder marked
        // that is about to be removed.
        for marker in self.markers.iter().rev() {
            let _ = fs::remove_file(marker);
        }
        if let Some(lock) = &self.lock {
            let _ = fs::remove_file(lock);
        }
        // `remove_dir` removes only empty folders: one another run has written in stays.
        for dir in self.made_dirs.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// The claims of this process. A signal's clean-up takes this lock and never gives it
/// back, so whatever holds it (a file being written, the swap) finishes first.
struct Registry {
    next_id: u64,
    claims: Vec<(u64, Undo)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next_id: 0,
    claims: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    fn undo_mut(&mut self, id: u64) -> Option<&mut Undo> {
        self.claims
            .iter_mut()
            .find(|(i, _)| *i == id)
            .map(|(_, u)| u)
    }
}

impl OutputDir {
    /// Claim `folder` for one run that reads `input`: with `sub` None the run replaces
    /// `folder`; with `sub` Some(name) it replaces `folder/name` and keeps the rest of
    /// `folder` (made, and marked, when absent). Refuses a folder that is not rewind's
    /// before writing anything.
    pub fn claim(folder: &Path, sub: Option<&str>, input: &Path) -> Result<Self, OutDirError> {
        let (parent, name) = split(folder)?;
        inspect(folder, input)?;
        install_signal_cleanup()?;
        let mut registry = registry();
        let mut undo = Undo::default();
        match make(folder, &parent, &name, sub, input, &mut undo) {
            Ok((lock, target, tmp)) => {
                registry.next_id += 1;
                let id = registry.next_id;
                registry.claims.push((id, undo));
                Ok(OutputDir {
                    target,
                    tmp,
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

    /// Write `files` into the new folder, copy the entries named in `keep` (another
    /// command's results, such as `compare/`) from the previous folder, and put the new
    /// folder in the previous one's place. Names and bytes are whatever holds them (`&str` or `String`, a slice or a `Vec`).
    pub fn commit<N: AsRef<str>, B: AsRef<[u8]>>(
        self,
        files: &[(N, B)],
        keep: &[&str],
    ) -> Result<(), OutDirError> {
        for (name, bytes) in files {
            let (name, bytes) = (name.as_ref(), bytes.as_ref());
            let path = self.tmp.join(name);
            // Held while the file is written, so a signal's clean-up never races it.
            let _registry = registry();
            // A name may hold folders (`points/...`), made inside the new folder.
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
            }
            write_file(&path, bytes).map_err(io_err(format!("writing {}", path.display())))?;
        }
        for name in keep {
            let previous = self.target.join(name);
            if fs::symlink_metadata(&previous).is_ok() {
                let _registry = registry();
                copy_tree(&previous, &self.tmp.join(name))
                    .map_err(io_err(format!("keeping {}", previous.display())))?;
            }
        }
        sync_dir(&self.tmp);
        // Held through the swap. On an early return it is dropped before `self`, whose
        // Drop takes it again to undo the claim.
        let mut registry = registry();
        let previous = if fs::symlink_metadata(&self.target).is_ok() {
            Some(swap(&self.tmp, &self.target).map_err(io_err(format!(
                "putting the new output in place of {}",
                self.target.display()
            )))?)
        } else {
            fs::rename(&self.tmp, &self.target).map_err(io_err(format!(
                "moving the new output to {}",
                self.target.display()
            )))?;
            None
        };
        if let Some(parent) = self.target.parent() {
            sync_dir(parent);
        }
        // The new folder is in place: what is left to undo is the lock alone. A previous
        // folder that cannot be removed stays, marked, for the next run to remove.
        if let Some(previous) = previous {
            let _ = remove_any(&previous);
        }
        if let Some(undo) = registry.undo_mut(self.id) {
            undo.tmp = None;
            undo.markers.clear();
            undo.made_dirs.clear();
        }
        Ok(())
    }

    /// The folder this run replaces.
    pub fn target(&self) -> &Path {
        &self.target
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        let mut registry = registry();
        if let Some(pos) = registry.claims.iter().position(|(id, _)| *id == self.id) {
            let (_, undo) = registry.claims.remove(pos);
            undo.run();
        }
    }
}

/// The folder's parent and its own name; `.`, `..` and `/` have no name of their own,
/// and replacing them would replace the folders around the user's files.
fn split(folder: &Path) -> Result<(PathBuf, OsString), OutDirError> {
    let mut components = folder.components();
    let Some(Component::Normal(name)) = components.next_back() else {
        return Err(OutDirError::Refused(format!(
            "the output folder {} has no name of its own, and rewind replaces the whole \
             folder it writes: give a new folder's name, such as --out {}",
            folder.display(),
            folder.join("runs").display()
        )));
    };
    let parent = components.as_path();
    let parent = if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent.to_path_buf()
    };
    Ok((parent, name.to_os_string()))
}

/// Refuse a folder that is not rewind's to replace.
fn inspect(folder: &Path, input: &Path) -> Result<(), OutDirError> {
    let shown = folder.display();
    let meta = match fs::symlink_metadata(folder) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(format!("reading {shown}"))(e)),
    };
    if meta.file_type().is_symlink() {
        return Err(OutDirError::Refused(format!(
            "the output folder {shown} is a symbolic link, and rewind replaces the folder it \
             writes: give --out the folder itself"
        )));
    }
    if !meta.is_dir() {
        return Err(OutDirError::Refused(format!(
            "the output folder {shown} is a file: choose another folder with --out"
        )));
    }
    let canonical = fs::canonicalize(folder).map_err(io_err(format!("reading {shown}")))?;
    let input_canonical =
        fs::canonicalize(input).map_err(io_err(format!("reading {}", input.display())))?;
    // The file's own folder, resolved, with its name: a link to the incident file inside
    // the folder would be removed with it too.
    let input_entry = input
        .parent()
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .and_then(|d| fs::canonicalize(d).ok())
        .zip(input.file_name())
        .map(|(d, name)| d.join(name));
    if input_canonical.starts_with(&canonical)
        || input_entry.is_some_and(|e| e.starts_with(&canonical))
    {
        return Err(OutDirError::Refused(format!(
            "the output folder {shown} holds the incident file {}, and rewind replaces the \
             whole folder: choose another folder with --out",
            input.display()
        )));
    }
    if !is_rewinds(folder)? {
        return Err(OutDirError::Refused(format!(
            "the output folder {shown} is not empty and was not written by rewind (it has no \
             {MARKER} file): choose another folder with --out, or empty this one"
        )));
    }
    Ok(())
}

/// An empty folder, or one with rewind's marker.
fn is_rewinds(folder: &Path) -> Result<bool, OutDirError> {
    if fs::symlink_metadata(folder.join(MARKER)).is_ok_and(|m| m.is_file()) {
        return Ok(true);
    }
    let mut entries =
        fs::read_dir(folder).map_err(io_err(format!("reading {}", folder.display())))?;
    Ok(entries.next().is_none())
}

/// Everything a claim makes, recorded in `undo` as it goes: the parent folders, the
/// lock, (with `sub`) the incident's folder, the temporary folder. Returns the lock,
/// the folder to replace and the temporary folder.
fn make(
    folder: &Path,
    parent: &Path,
    name: &OsString,
    sub: Option<&str>,
    input: &Path,
    undo: &mut Undo,
) -> Result<(fs::File, PathBuf, PathBuf), OutDirError> {
    create_dirs(parent, &mut undo.made_dirs)?;
    let lock_path = parent.join(dotted(name, "lock"));
    let lock = lock(&lock_path, folder, undo)?;
    // Again under the lock: the folder may have changed since the first look.
    inspect(folder, input)?;
    remove_leftovers(parent, name);
    let (dir, own_name) = match sub {
        None => (parent.to_path_buf(), name.clone()),
        Some(sub) => {
            let (created, marker) = make_marked(folder)?;
            if created {
                undo.made_dirs.push(folder.to_path_buf());
            }
            undo.markers.extend(marker);
            let sub = OsString::from(sub);
            remove_leftovers(folder, &sub);
            (folder.to_path_buf(), sub)
        }
    };
    let tmp = dir.join(dotted(&own_name, &format!("tmp-{}", std::process::id())));
    if fs::symlink_metadata(tmp.join(MARKER)).is_ok() {
        // Left by an earlier process with this process's number.
        let _ = fs::remove_dir_all(&tmp);
    }
    fs::create_dir(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
    undo.tmp = Some(tmp.clone());
    let marker = tmp.join(MARKER);
    write_file(&marker, MARKER_TEXT.as_bytes())
        .map_err(io_err(format!("writing {}", marker.display())))?;
    Ok((lock, dir.join(own_name), tmp))
}

/// `.NAME.SUFFIX`: the hidden siblings of a folder (lock, temporary, previous).
/// Make `folder` (if it is not there) and mark it rewind's (if it is not marked):
/// whether it was made, and the marker if it was written, for the caller's undo.
fn make_marked(folder: &Path) -> Result<(bool, Option<PathBuf>), OutDirError> {
    let created = match fs::create_dir(folder) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(io_err(format!("creating {}", folder.display()))(e)),
    };
    let marker = folder.join(MARKER);
    if fs::symlink_metadata(&marker).is_ok() {
        return Ok((created, None));
    }
    write_file(&marker, MARKER_TEXT.as_bytes())
        .map_err(io_err(format!("writing {}", marker.display())))?;
    Ok((created, Some(marker)))
}

fn dotted(name: &OsString, suffix: &str) -> OsString {
    let mut s = OsString::from(".");
    s.push(name);
    s.push(".");
    s.push(suffix);
    s
}

/// `create_dir_all`, recording the folders it made, outermost first.
fn create_dirs(dir: &Path, made: &mut Vec<PathBuf>) -> Result<(), OutDirError> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && fs::symlink_metadata(d).is_err())
        .collect();
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => made.push(d.to_path_buf()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(io_err(format!("creating {}", d.display()))(e)),
        }
    }
    Ok(())
}

/// Take the lock at `path` without waiting: a second run fails at once, naming the
/// process that holds it (written into the lock file).
#[cfg(unix)]
fn lock(path: &Path, folder: &Path, undo: &mut Undo) -> Result<fs::File, OutDirError> {
    use rustix::fs::{flock, FlockOperation};
    use std::os::unix::fs::MetadataExt;
    let context = || format!("locking {}", path.display());
    loop {
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err(context()))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                let holder = fs::read_to_string(path).unwrap_or_default();
                return Err(busy(folder, holder.trim()));
            }
            Err(e) => return Err(io_err(context())(e.into())),
        }
        // The run that held the lock removes the file when it ends; if it did so between
        // our open and our lock, we hold a lock on a removed file: open the path again.
        let ours = file.metadata().map_err(io_err(context()))?;
        match fs::metadata(path) {
            Ok(now) if now.dev() == ours.dev() && now.ino() == ours.ino() => {}
            _ => continue,
        }
        undo.lock = Some(path.to_path_buf());
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(io_err(context()))?;
        return Ok(file);
    }
}

/// Outside Unix, the lock file's existence is the lock.
#[cfg(not(unix))]
fn lock(path: &Path, folder: &Path, undo: &mut Undo) -> Result<fs::File, OutDirError> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut file) => {
            undo.lock = Some(path.to_path_buf());
            let _ = writeln!(file, "{}", std::process::id());
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let holder = fs::read_to_string(path).unwrap_or_default();
            Err(OutDirError::Busy(format!(
                "{} (if no rewind run is going on, remove {})",
                busy(folder, holder.trim()),
                path.display()
            )))
        }
        Err(e) => Err(io_err(format!("locking {}", path.display()))(e)),
    }
}

fn busy(folder: &Path, holder: &str) -> OutDirError {
    let by = if holder.is_empty() {
        String::new()
    } else {
        format!(" (process {holder})")
    };
    OutDirError::Busy(format!(
        "{} is being written by another rewind run{by}: wait for it to end, or choose \
         another folder with --out",
        folder.display()
    ))
}

/// Remove `.NAME.tmp-PID` and `.NAME.old-PID` folders in `dir` left by runs that were
/// killed: only marked ones, and only when that process is gone (the caller holds
/// NAME's lock, so no live run of this version is writing them).
fn remove_leftovers(dir: &Path, name: &OsString) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = rest
            .strip_prefix("tmp-")
            .or_else(|| rest.strip_prefix("old-"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && process_alive(pid) {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && fs::symlink_metadata(path.join(MARKER)).is_ok_and(|m| m.is_file()) {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    // EPERM means the process exists but is someone else's.
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Outside Unix, the lock alone says the run that left the folder has ended.
#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    false
}

/// Swap `tmp` and `target` (both existing) and return where the previous `target`
/// now is. On Linux one `renameat2(RENAME_EXCHANGE)`: `target` names a complete folder
/// at every instant.
fn swap(tmp: &Path, target: &Path) -> io::Result<PathBuf> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        use rustix::io::Errno;
        match renameat_with(CWD, tmp, CWD, target, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(tmp.to_path_buf()),
            // Kernels before 3.15 and filesystems without the flag: two renames.
            Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {}
            Err(e) => return Err(e.into()),
        }
    }
    swap_by_two_renames(tmp, target)
}

/// The previous folder moves aside to `.NAME.old-PID`, then the new one takes its name.
fn swap_by_two_renames(tmp: &Path, target: &Path) -> io::Result<PathBuf> {
    let name = target
        .file_name()
        .map_or_else(|| OsString::from("out"), |n| n.to_os_string());
    let old = target.with_file_name(dotted(&name, &format!("old-{}", std::process::id())));
    fs::rename(target, &old)?;
    if let Err(e) = fs::rename(tmp, target) {
        let _ = fs::rename(&old, target);
        return Err(e);
    }
    Ok(old)
}

fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Copy a file, folder or symbolic link.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    if meta.is_dir() {
        fs::create_dir(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else if meta.file_type().is_symlink() {
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(fs::read_link(from)?, to)
        }
        #[cfg(not(unix))]
        {
            fs::copy(from, to).map(|_| ())
        }
    } else {
        fs::copy(from, to).map(|_| ())
    }
}

/// Remove a folder with all it holds, or a file or link.
fn remove_any(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

/// Make a folder's entries durable (where the platform can; a failure costs only
/// durability across a power loss, so it is not reported).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// On SIGINT, SIGTERM or SIGHUP, undo every claim of this process and exit with
/// 128 + the signal's number. Installed once, at the first claim.
#[cfg(unix)]
fn install_signal_cleanup() -> Result<(), OutDirError> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use std::sync::OnceLock;
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
            .map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("output-cleanup".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    // Never released: the process ends holding it.
                    let registry = registry();
                    for (_, undo) in registry.claims.iter().rev() {
                        undo.run();
                    }
                    std::process::exit(128 + signal);
                }
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    installed.clone().map_err(|e| OutDirError::Io {
        context: "preparing to clean up on interruption".into(),
        source: io::Error::other(e),
    })
}

#[cfg(not(unix))]
fn install_signal_cleanup() -> Result<(), OutDirError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_exchanges_two_folders_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir(&a).expect("mkdir");
        fs::create_dir(&b).expect("mkdir");
        fs::write(a.join("new"), "new").expect("write");
        fs::write(b.join("old"), "old").expect("write");
        let previous = swap(&a, &b).expect("swap");
        assert!(b.join("new").is_file() && !b.join("old").exists());
        assert!(previous.join("old").is_file());
        // On Linux one exchange: the previous folder is where the new one was, and `b`
        // never went missing.
        #[cfg(target_os = "linux")]
        assert_eq!(previous, a);
    }

    #[test]
    fn names_without_a_folder_of_their_own_are_refused() {
        for p in [".", "..", "/", "a/..", "./"] {
            assert!(
                matches!(split(Path::new(p)), Err(OutDirError::Refused(_))),
                "{p}"
            );
        }
        let (parent, name) = split(Path::new("runs/x")).expect("named");
        assert_eq!(
            (parent.as_path(), name.as_os_str()),
            (Path::new("runs"), "x".as_ref())
        );
        let (parent, _) = split(Path::new("x")).expect("named");
        assert_eq!(parent, Path::new("."));
    }
}
