//! CPU limits, wired: a replica's `cpus` shared by the `work` steps of its handlers and
//! of its batch jobs' iterations (the mechanism is `processor.rs`), the one pending
//! completion event of each set of cores, and the utilisation that metrics and the
//! autoscaler read.
//!
//! A CPU limit of N cores is modelled as processor sharing: n runnable handlers and
//! job iterations each progress at min(1, N/n) of a core, whether the workers are a
//! thread pool or one goroutine per request; a job's loop is one more goroutine or
//! thread of the same process, scheduled like the others. Linux enforces a limit with CFS bandwidth control instead
//! (`cpu.cfs_quota_us` per 100 ms `cpu.cfs_period_us`): a container that spends its
//! quota early in a period is throttled until the period ends, which adds up to 100 ms
//! to a request in bursts. Over periods longer than 100 ms the two agree on throughput;
//! the throttling tail is a refinement left out.

use crate::engine::{Key, Nanos, Scheduler, Timer};

use super::event::*;
use super::handler::HandlerPhase;
use super::job::JobPhase;
use super::processor::ProcessorSharing;
use super::replica::ReplicaState;
use super::world::World;

/// A set of cores as it runs: the sharing, the pending completion, and the busy time
/// already reported.
pub(super) struct CpuRt<T> {
    pub(super) ps: ProcessorSharing<T>,
    /// The event for the next completion, cancelled whenever the sharing changes.
    pub(super) timer: Option<Timer>,
    /// Busy core-seconds at the last closed metrics interval.
    pub(super) busy_at_row: f64,
    /// Busy core-seconds at the autoscaler's previous sync.
    pub(super) busy_at_sync: f64,
}

impl<T: Copy> CpuRt<T> {
    pub(super) fn new(cores: f64, now: Nanos) -> Self {
        CpuRt {
            ps: ProcessorSharing::new(cores, now),
            timer: None,
            busy_at_row: 0.0,
            busy_at_sync: 0.0,
        }
    }

    /// After a change: the next completion, as `event`, replaces the pending one.
    pub(super) fn reschedule(&mut self, sched: &mut Scheduler<Event>, event: Event) {
        if let Some(t) = self.timer.take() {
            sched.cancel(t);
        }
        if let Some(d) = self.ps.next_completion(sched.now()) {
            // Its delay differs at every change: a lane per delay would use them up.
            self.timer = Some(sched.cancellable_after(d, event));
        }
    }

    /// Share of the cores used since the previous call (`mark` chooses whose), as a
    /// fraction of `cores x elapsed`.
    pub(super) fn utilisation_since(
        &mut self,
        now: Nanos,
        elapsed: Nanos,
        mark: fn(&mut Self) -> &mut f64,
    ) -> f64 {
        let busy = self.ps.busy_core_s(now);
        let cores = self.ps.cores();
        let before = std::mem::replace(mark(self), busy);
        let capacity = cores * elapsed.as_secs_f64();
        if capacity > 0.0 {
            (busy - before) / capacity
        } else {
            0.0
        }
    }
}

/// Who runs on a replica's cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CpuUser {
    /// A request handler's `work` step.
    Handler(Key),
    /// A `work` step of batch job `job`'s iteration, in the process `incarnation`.
    Job { job: u16, incarnation: u32 },
}

impl World {
    /// Handler `h` on replica `r` starts a `work` step of `work` (its time alone on a
    /// core): on a replica without a CPU limit it simply takes that long.
    pub(super) fn start_work(
        &mut self,
        h: Key,
        r: usize,
        work: Nanos,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        match &mut self.replicas[r].cpu {
            None => sched.after(work, Event::Handler(HandlerEvent::StepDone { handler: h })),
            Some(cpu) => {
                cpu.ps.add(now, work, CpuUser::Handler(h));
                cpu.reschedule(
                    sched,
                    Event::Handler(HandlerEvent::CpuDone { replica: r as u32 }),
                );
            }
        }
    }

    /// An iteration of job `j` on replica `r` starts a `work` step of `work`: on the
    /// replica's cores when it has a CPU limit, shared with its handlers; else it
    /// simply takes that long.
    pub(super) fn start_job_work(
        &mut self,
        r: usize,
        j: usize,
        work: Nanos,
        sched: &mut Scheduler<Event>,
    ) {
        let now = sched.now();
        let incarnation = self.replicas[r].incarnation;
        let job = j as u16;
        match &mut self.replicas[r].cpu {
            None => {
                let event = JobEvent::WorkDone {
                    replica: r as u32,
                    incarnation,
                    job,
                };
                sched.after(work, Event::Job(event));
            }
            Some(cpu) => {
                cpu.ps.add(now, work, CpuUser::Job { job, incarnation });
                cpu.reschedule(
                    sched,
                    Event::Handler(HandlerEvent::CpuDone { replica: r as u32 }),
                );
            }
        }
    }

    /// The handler or job iteration at the head of replica `r`'s cores has done its
    /// step's work.
    pub(super) fn on_replica_cpu_done(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let Some(cpu) = &mut self.replicas[r].cpu else {
            return;
        };
        cpu.timer = None;
        let finished = cpu.ps.finish_next(now);
        cpu.reschedule(
            sched,
            Event::Handler(HandlerEvent::CpuDone { replica: r as u32 }),
        );
        match finished {
            Some(CpuUser::Handler(h))
                if self
                    .handlers
                    .get(h)
                    .is_some_and(|hd| hd.phase == HandlerPhase::Working) =>
            {
                self.on_step_done(h, sched);
            }
            Some(CpuUser::Job { job, incarnation })
                if self.replicas[r]
                    .jobs
                    .get(usize::from(job))
                    .is_some_and(|s| s.phase == JobPhase::Working) =>
            {
                self.on_job_work_done(r, incarnation, usize::from(job), sched);
            }
            _ => {}
        }
    }

    /// The process of replica `r` is gone: what ran on its cores is dropped.
    pub(super) fn clear_cpu(&mut self, r: usize, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        if let Some(cpu) = &mut self.replicas[r].cpu {
            if let Some(t) = cpu.timer.take() {
                sched.cancel(t);
            }
            cpu.ps.clear(now);
        }
    }

    /// Mean CPU utilisation of service `s`'s running replicas over the interval that
    /// ends at `now` (what `rate(container_cpu_usage_seconds_total)` over the limit,
    /// averaged over the pods, shows); None for a service without a CPU limit.
    pub(super) fn service_cpu_utilisation(&mut self, s: usize, now: Nanos) -> Option<f64> {
        self.scenario.services[s].cpus?;
        let interval = self.scenario.resolution;
        let (mut sum, mut n) = (0.0, 0u32);
        for &r in &self.services[s].replicas {
            let rep = &mut self.replicas[r];
            let running = matches!(rep.state, ReplicaState::Starting | ReplicaState::Ready);
            if let Some(cpu) = &mut rep.cpu {
                let u = cpu.utilisation_since(now, interval, |c| &mut c.busy_at_row);
                if running {
                    sum += u;
                    n += 1;
                }
            }
        }
        Some(if n == 0 { 0.0 } else { sum / f64::from(n) })
    }

    /// CPU utilisation of database `db` over the interval that ends at `now`.
    pub(super) fn database_cpu_utilisation(&mut self, db: usize, now: Nanos) -> Option<f64> {
        let interval = self.scenario.resolution;
        let cpu = self.databases[db].cpu.as_mut()?;
        Some(cpu.utilisation_since(now, interval, |c| &mut c.busy_at_row))
    }

    /// Replica `r`'s CPU use since the autoscaler's previous sync, `period` ago, as a
    /// percentage of its limit.
    pub(super) fn replica_cpu_percent(&mut self, r: usize, now: Nanos, period: Nanos) -> f64 {
        match &mut self.replicas[r].cpu {
            Some(cpu) => 100.0 * cpu.utilisation_since(now, period, |c| &mut c.busy_at_sync),
            None => 0.0,
        }
    }
}
