//! File descriptors of each replica's process, against its `RLIMIT_NOFILE`: the
//! descriptors a started process holds (`baseline`: standard streams, the listening
//! socket, files it keeps open) plus those its handlers' `leak` steps open and never
//! close. The kernel hands out a descriptor only while the process holds fewer than
//! its soft limit; at the limit `open()` and `socket()` fail with `EMFILE` ("Too many
//! open files"). A server that takes that as fatal exits, as the SRE book's example
//! postmortem's search tasks did ("file descriptor exhaustion" in the crash's stack
//! trace), and is restarted with the back-off like any crash; exit closes every
//! descriptor, so the new process starts from its baseline.
//!
//! What is not here: a server that survives `EMFILE` and refuses instead (Go's
//! `net/http` sleeps and retries `accept()`, 5 ms doubling to 1 s, while connections
//! wait in the accept queue), and the sockets of connections in flight, which a
//! server's limit is sized for (only the leak and the baseline count).

use crate::engine::{Key, Nanos, Scheduler};

use super::event::*;
use super::replica::ReplicaState;
use super::world::World;

/// The soft `RLIMIT_NOFILE` a process gets unless something raises it: Linux's
/// `INR_OPEN_CUR` (include/uapi/linux/fs.h), which systemd keeps as the soft limit of
/// its services (`DefaultLimitNOFILE=1024:524288` since v240: only the hard limit was
/// raised, so that `select()` keeps working). Container runtimes often set their own:
/// `ulimit -n` in the container says which.
pub const LINUX_DEFAULT_NOFILE: u32 = 1024;

/// The most a file may set: `setrlimit` refuses a limit above `fs.nr_open`, 1,048,576
/// by default (`sysctl_nr_open`, fs/file.c).
pub const MAX_NOFILE: u32 = 1 << 20;

/// Descriptors a started process holds before any request: stdin, stdout, stderr and
/// the listening socket.
pub const DEFAULT_BASELINE_FDS: u32 = 4;

/// A process's descriptor budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdSpec {
    /// The soft `RLIMIT_NOFILE` (`ulimit -n`, `LimitNOFILE=`): at most this many open.
    pub limit: u32,
    /// Descriptors open once the process has started, below `limit`.
    pub baseline: u32,
}

impl Default for FdSpec {
    fn default() -> Self {
        FdSpec {
            limit: LINUX_DEFAULT_NOFILE,
            baseline: DEFAULT_BASELINE_FDS,
        }
    }
}

/// Whether a process holding `open` descriptors can open `n` more under `limit`: the
/// kernel allocates each one only below the limit (`alloc_fd`, fs/file.c: `if (fd >=
/// end) error = -EMFILE`), so the last one that fits takes the count to the limit.
pub fn can_open(open: u32, n: u32, limit: u32) -> bool {
    u64::from(open) + u64::from(n) <= u64::from(limit)
}

impl World {
    /// Handler `h` on replica `r` runs a `leak` step of `n` descriptors: they stay
    /// open with the process, and the handler goes on at the same instant (an event,
    /// not a call, so consecutive steps never deepen the stack). When they do not fit
    /// under the limit the `open()` fails with `EMFILE` and the process exits.
    pub(super) fn leak_fds(&mut self, h: Key, r: usize, n: u32, sched: &mut Scheduler<Event>) {
        let spec = self.spec_of(r).fds.unwrap_or_default();
        let open = spec.baseline + self.replicas[r].leaked_fds;
        if !can_open(open, n, spec.limit) {
            let leaked = self.replicas[r].leaked_fds;
            let inflight = self.replicas[r].inflight;
            let s = self.replicas[r].service;
            self.services[s].totals.fd_crashes += 1;
            self.crash(
                r,
                "fd_exhausted",
                format!(
                    "crashed: open() failed with EMFILE (too many open files): {open} of {} descriptors open, {leaked} of them leaked, with {inflight} handler{} in flight",
                    spec.limit,
                    crate::human::plural_s(u64::from(inflight))
                ),
                sched,
            );
            return;
        }
        self.replicas[r].leaked_fds += n;
        let s = self.replicas[r].service;
        let totals = &mut self.services[s].totals;
        totals.leaked_fds += u64::from(n);
        totals.peak_fds = totals.peak_fds.max(u64::from(open + n));
        sched.after(
            Nanos::ZERO,
            Event::Handler(HandlerEvent::StepDone { handler: h }),
        );
    }

    /// The most descriptors open in one running replica of service `s` (the
    /// `<service>.fds` column), if the service counts them.
    pub(super) fn service_open_fds(&self, s: usize) -> Option<f64> {
        let spec = self.scenario.services[s].fds?;
        let most = self.services[s]
            .replicas
            .iter()
            .filter(|&&r| self.replicas[r].state != ReplicaState::Down)
            .map(|&r| spec.baseline + self.replicas[r].leaked_fds)
            .max()
            .unwrap_or(0);
        Some(f64::from(most))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a limit of 10 and nothing else open, ten descriptors fit and the
    /// eleventh does not: the count may reach the limit, never pass it.
    #[test]
    fn the_last_descriptor_that_fits_reaches_the_limit() {
        assert!((0..10).all(|open| can_open(open, 1, 10)));
        assert!(!can_open(10, 1, 10));
        assert!(can_open(8, 2, 10));
        assert!(!can_open(9, 2, 10));
        assert!(can_open(10, 0, 10));
        assert!(!can_open(u32::MAX, u32::MAX, u32::MAX));
    }
}
