//! Processor sharing: `cores` CPUs shared by the jobs running on them, each progressing
//! at min(1, cores / n) of a core when n run at once. This is the mechanism behind a
//! service's `cpus` limit (its handlers' `work` steps) and a database's `cpus` (its
//! queries); the wiring that feeds it jobs and turns completions into events is in
//! `cpu.rs`. It knows nothing of handlers, queries or time beyond the instants it is
//! given.
//!
//! The classic virtual-time construction: `virtual_s` is the work every running job has
//! received since the server was last empty (all running jobs receive work at the same
//! rate, so one number serves them all). A job arriving with `work` seconds to do
//! finishes when `virtual_s` reaches its tag, `virtual_s` at arrival plus `work`; the
//! head of the tag order finishes first, after (tag - virtual_s) / rate of real time.
//! Arrivals and departures change the rate, so the owner re-asks for the next
//! completion after every change. Ties in tag finish in arrival order.
//!
//! Non-negative `f64`s order like their bit patterns, which lets a `BTreeMap` keyed by
//! `(tag bits, arrival sequence)` hold the jobs in completion order, deterministically.

use std::collections::BTreeMap;

use crate::engine::Nanos;

/// A job's place in the server, for taking it out early (a cancelled query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Slot {
    tag_bits: u64,
    seq: u64,
}

/// `cores` CPUs shared by processor sharing among jobs identified by `T`.
#[derive(Debug, Clone)]
pub(super) struct ProcessorSharing<T> {
    cores: f64,
    virtual_s: f64,
    updated: Nanos,
    jobs: BTreeMap<Slot, T>,
    next_seq: u64,
    /// Core-seconds of work done since the start (for utilisation).
    busy_core_s: f64,
}

impl<T: Copy> ProcessorSharing<T> {
    /// An idle server of `cores` CPUs (positive; fractions allowed, as a Kubernetes
    /// limit of `500m` is half a core).
    pub(super) fn new(cores: f64, now: Nanos) -> Self {
        ProcessorSharing {
            cores,
            virtual_s: 0.0,
            updated: now,
            jobs: BTreeMap::new(),
            next_seq: 0,
            busy_core_s: 0.0,
        }
    }

    /// Jobs running now.
    #[cfg(test)]
    pub(super) fn running(&self) -> usize {
        self.jobs.len()
    }

    /// The share of a core each running job receives with `n` of them.
    fn rate(&self, n: usize) -> f64 {
        if n == 0 {
            1.0
        } else {
            (self.cores / n as f64).min(1.0)
        }
    }

    /// Bring the work done up to `now`.
    fn advance(&mut self, now: Nanos) {
        let dt = now.saturating_sub(self.updated).as_secs_f64();
        self.updated = self.updated.max(now);
        let n = self.jobs.len();
        if n == 0 || dt == 0.0 {
            return;
        }
        self.virtual_s += dt * self.rate(n);
        self.busy_core_s += dt * (n as f64).min(self.cores);
    }

    /// A job of `work` (time it takes alone on one core) starts at `now`.
    pub(super) fn add(&mut self, now: Nanos, work: Nanos, who: T) -> Slot {
        self.advance(now);
        if self.jobs.is_empty() {
            // Keep the numbers small (and so exact) over long runs.
            self.virtual_s = 0.0;
        }
        let tag = self.virtual_s + work.as_secs_f64();
        let slot = Slot {
            tag_bits: tag.to_bits(),
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.jobs.insert(slot, who);
        slot
    }

    /// Take a job out before it finishes (its work is abandoned). False if it had
    /// already finished or left.
    pub(super) fn remove(&mut self, now: Nanos, slot: Slot) -> bool {
        self.advance(now);
        self.jobs.remove(&slot).is_some()
    }

    /// Delay from `now` until the next job finishes, if any runs.
    pub(super) fn next_completion(&self, now: Nanos) -> Option<Nanos> {
        let (slot, _) = self.jobs.first_key_value()?;
        let elapsed = now.saturating_sub(self.updated).as_secs_f64();
        let n = self.jobs.len();
        let rate = self.rate(n);
        let virtual_now = self.virtual_s + elapsed * rate;
        let left_s = (f64::from_bits(slot.tag_bits) - virtual_now).max(0.0);
        // To the nearest nanosecond: `finish_next` completes the head job when the
        // event fires, so rounding never leaves a job running or finishes another.
        Some(Nanos((left_s / rate * 1e9).round() as u64))
    }

    /// The head job finishes at `now` (when [`next_completion`](Self::next_completion)
    /// said): it leaves and is returned.
    pub(super) fn finish_next(&mut self, now: Nanos) -> Option<T> {
        self.advance(now);
        let (slot, who) = self.jobs.pop_first()?;
        // Rounding may leave the clock a hair short of the tag: the job is done.
        self.virtual_s = self.virtual_s.max(f64::from_bits(slot.tag_bits));
        Some(who)
    }

    /// Everything running is dropped (the process died).
    pub(super) fn clear(&mut self, now: Nanos) {
        self.advance(now);
        self.jobs.clear();
        self.virtual_s = 0.0;
    }

    /// Core-seconds of work done from the start up to `now`.
    pub(super) fn busy_core_s(&mut self, now: Nanos) -> f64 {
        self.advance(now);
        self.busy_core_s
    }

    /// The number of CPUs.
    pub(super) fn cores(&self) -> f64 {
        self.cores
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Nanos {
        Nanos(v * 1_000_000)
    }

    /// Drive the server alone: jobs `(arrival ms, work ms)`; returns finish times (ms)
    /// by job index.
    fn run(cores: f64, jobs: &[(u64, u64)]) -> Vec<f64> {
        let mut ps = ProcessorSharing::new(cores, Nanos::ZERO);
        let mut done = vec![f64::NAN; jobs.len()];
        let mut next = 0;
        let mut now = Nanos::ZERO;
        loop {
            let completion = ps.next_completion(now).map(|d| now.saturating_add(d));
            let arrival = jobs.get(next).map(|&(at, _)| ms(at));
            match (completion, arrival) {
                (None, None) => break,
                (Some(c), a) if a.is_none_or(|a| c <= a) => {
                    now = c;
                    let who = ps.finish_next(now).expect("a job runs");
                    done[who] = now.as_millis_f64();
                }
                (_, Some(a)) => {
                    now = a;
                    ps.add(now, ms(jobs[next].1), next);
                    next += 1;
                }
                _ => unreachable!(),
            }
        }
        done
    }

    #[test]
    fn one_job_alone_takes_its_work() {
        assert_eq!(run(1.0, &[(0, 100)]), vec![100.0]);
    }

    #[test]
    fn two_jobs_on_one_core_share_it() {
        // Both at t=0, 100 ms and 300 ms of work: each runs at 1/2 until the first is
        // done at 200 ms; the second then has 200 ms left alone: 400 ms.
        assert_eq!(run(1.0, &[(0, 100), (0, 300)]), vec![200.0, 400.0]);
    }

    #[test]
    fn a_late_arrival_slows_the_running_job() {
        // 100 ms alone; at 50 ms a second job of 100 ms arrives: both at 1/2, the first
        // has 50 ms left -> done at 150; the second has 50 left alone -> 200.
        assert_eq!(run(1.0, &[(0, 100), (50, 100)]), vec![150.0, 200.0]);
    }

    #[test]
    fn jobs_up_to_the_core_count_run_at_full_speed() {
        assert_eq!(run(2.0, &[(0, 100), (0, 100)]), vec![100.0, 100.0]);
        // Three jobs on two cores run at 2/3 each: 150 ms.
        assert_eq!(
            run(2.0, &[(0, 100), (0, 100), (0, 100)]),
            vec![150.0, 150.0, 150.0]
        );
    }

    #[test]
    fn a_fraction_of_a_core_is_slower_than_one() {
        assert_eq!(run(0.5, &[(0, 100)]), vec![200.0]);
    }

    #[test]
    fn a_removed_job_gives_its_share_back() {
        let mut ps = ProcessorSharing::new(1.0, Nanos::ZERO);
        let a = ps.add(Nanos::ZERO, ms(100), 0);
        ps.add(Nanos::ZERO, ms(100), 1);
        // At 50 ms both have had 25 ms; remove the first: the second has 75 ms left.
        assert!(ps.remove(ms(50), a));
        assert!(!ps.remove(ms(50), a));
        assert_eq!(ps.next_completion(ms(50)), Some(ms(75)));
        assert_eq!(ps.finish_next(ms(125)), Some(1));
        assert_eq!(ps.running(), 0);
    }

    #[test]
    fn busy_time_counts_cores_in_use() {
        let mut ps = ProcessorSharing::new(2.0, Nanos::ZERO);
        ps.add(Nanos::ZERO, ms(100), 0);
        // One job on two cores for 100 ms: 0.1 core-seconds.
        let d = ps.next_completion(Nanos::ZERO).expect("runs");
        ps.finish_next(d);
        assert!((ps.busy_core_s(ms(500)) - 0.1).abs() < 1e-12);
        ps.add(ms(500), ms(100), 1);
        ps.add(ms(500), ms(100), 2);
        ps.add(ms(500), ms(100), 3);
        // Three jobs on two cores for 150 ms: 0.3 more.
        assert!((ps.busy_core_s(ms(650)) - 0.4).abs() < 1e-9);
    }
}
