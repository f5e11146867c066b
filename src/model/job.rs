//! Batch jobs in a replica: a schedule, iterations that each take a connection and run
//! their steps on it (queries, with the database's latency or their own, and
//! application work), the release mode (per iteration, at function return, last only:
//! the leak) and the run's context (background or a deadline).
//!
//! Go code notices its context only where it asks: a deadline that passes during a
//! step (a query, whose driver returns when the statement does, or pure computation)
//! ends the run when that step ends.

use crate::engine::{Scheduler, Timer};

use super::database::{Querier, QueryOutcome};
use super::event::*;
use super::pool::*;
use super::replica::*;
use super::spec::{JobContext, JobStep, ReleaseMode};
use super::world::World;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JobPhase {
    Idle,
    Acquiring,
    Querying,
    /// In a `work` step, holding the connection.
    Working,
}

pub(super) struct JobState {
    pub(super) running: bool,
    pub(super) iteration: u32,
    /// The step of the current iteration that runs or runs next.
    pub(super) step: u16,
    /// The iteration's connection is new and no query has run on it yet: the first
    /// pays the backend's start.
    pub(super) fresh: bool,
    pub(super) held: u32,
    pub(super) phase: JobPhase,
    pub(super) deadline_passed: bool,
    pub(super) due_while_running: bool,
    pub(super) stuck_reported: bool,
    /// The pending deadline of the current run, if its context has one.
    pub(super) deadline: Option<Timer>,
}

impl JobState {
    pub(super) fn new() -> Self {
        JobState {
            running: false,
            iteration: 0,
            step: 0,
            fresh: false,
            held: 0,
            phase: JobPhase::Idle,
            deadline_passed: false,
            due_while_running: false,
            stuck_reported: false,
            deadline: None,
        }
    }
}

impl World {
    /// Route a job event to its rule.
    pub(super) fn on_job_event(&mut self, e: JobEvent, sched: &mut Scheduler<Event>) {
        match e {
            JobEvent::Due {
                replica,
                incarnation,
                job,
            } => self.on_job_due(replica as usize, incarnation, job as usize, sched),
            JobEvent::Deadline {
                replica,
                incarnation,
                job,
            } => self.on_job_deadline(replica as usize, incarnation, job as usize, sched),
            JobEvent::WorkDone {
                replica,
                incarnation,
                job,
            } => self.on_job_work_done(replica as usize, incarnation, job as usize, sched),
        }
    }

    pub(super) fn on_job_due(
        &mut self,
        r: usize,
        inc: u32,
        j: usize,
        sched: &mut Scheduler<Event>,
    ) {
        let rep = &self.replicas[r];
        if rep.incarnation != inc
            || matches!(rep.state, ReplicaState::Down | ReplicaState::Terminated)
        {
            return;
        }
        let every = self.spec_of(r).jobs[j].every;
        sched.after(
            every,
            Event::Job(JobEvent::Due {
                replica: r as u32,
                incarnation: inc,
                job: j as u16,
            }),
        );
        let job = &mut self.replicas[r].jobs[j];
        if job.running {
            // A run that is still going delays the next one until it ends.
            job.due_while_running = true;
            if !job.stuck_reported && job.phase == JobPhase::Acquiring {
                job.stuck_reported = true;
                let name = self.spec_of(r).jobs[j].name.clone();
                let now = sched.now();
                self.note(
                    now,
                    "job_stuck",
                    &name,
                    "batch run still waiting for a connection when the next run was due".into(),
                );
            }
            return;
        }
        self.job_start_run(r, j, sched);
    }

    pub(super) fn job_start_run(&mut self, r: usize, j: usize, sched: &mut Scheduler<Event>) {
        let inc = self.replicas[r].incarnation;
        let context = self.spec_of(r).jobs[j].context;
        let job = &mut self.replicas[r].jobs[j];
        job.running = true;
        job.iteration = 0;
        job.held = 0;
        job.deadline_passed = false;
        job.due_while_running = false;
        job.stuck_reported = false;
        if let JobContext::Timeout(t) = context {
            let timer = sched.timeout(
                t,
                Event::Job(JobEvent::Deadline {
                    replica: r as u32,
                    incarnation: inc,
                    job: j as u16,
                }),
            );
            self.replicas[r].jobs[j].deadline = Some(timer);
        }
        self.job_next_iteration(r, j, sched);
    }

    pub(super) fn job_next_iteration(&mut self, r: usize, j: usize, sched: &mut Scheduler<Event>) {
        let (iterations, pool) = {
            let spec = &self.spec_of(r).jobs[j];
            (spec.iterations, spec.pool)
        };
        if self.replicas[r].jobs[j].iteration >= iterations {
            self.job_end_run(r, j, sched);
            return;
        }
        match self.acquire(r, pool, Waiter::Job(j as u16), sched.now()) {
            Acquire::Granted => self.job_connected(r, j, false, sched),
            Acquire::Opened => self.job_connected(r, j, true, sched),
            Acquire::Wait => self.replicas[r].jobs[j].phase = JobPhase::Acquiring,
            Acquire::Refused => self.job_end_run(r, j, sched),
        }
    }

    /// The iteration holds its connection (`fresh`: newly opened): its steps begin.
    pub(super) fn job_connected(
        &mut self,
        r: usize,
        j: usize,
        fresh: bool,
        sched: &mut Scheduler<Event>,
    ) {
        let job = &mut self.replicas[r].jobs[j];
        job.held += 1;
        job.step = 0;
        job.fresh = fresh;
        self.job_begin_step(r, j, sched);
    }

    /// Begin the iteration's current step on its connection.
    fn job_begin_step(&mut self, r: usize, j: usize, sched: &mut Scheduler<Event>) {
        let rep = &self.replicas[r];
        let (inc, version, at) = (rep.incarnation, rep.version, rep.jobs[j].step);
        let svc = &mut self.services[rep.service];
        let spec = &svc.versions[version];
        let pool = spec.jobs[j].pool;
        let db = spec.pools[pool].database;
        // Latencies of the job's own steps come from its stream; a plain query draws
        // from the database's, as a handler's does.
        let rng = &mut svc.job_rngs[j];
        // `at` is below the step count (lowering refuses an empty list): the fallback
        // is the plain query a job without steps runs.
        let step = spec.jobs[j].steps.get(usize::from(at));
        let job = &mut self.replicas[r].jobs[j];
        if let Some(JobStep::Work(l)) = step {
            job.phase = JobPhase::Working;
            let work = l.sample(rng);
            self.start_job_work(r, j, work, sched);
            return;
        }
        let own_time = match step {
            Some(JobStep::Query(statement)) => statement.own_time(rng),
            _ => None,
        };
        job.phase = JobPhase::Querying;
        let fresh = std::mem::take(&mut job.fresh);
        let who = Querier::Job {
            replica: r as u32,
            incarnation: inc,
            job: j as u16,
        };
        self.submit_statement(db, who, fresh, own_time, sched);
    }

    /// A job's query is over. A query the database cancelled is an error the batch
    /// function returns (`if err != nil { return err }`): the run ends.
    pub(super) fn job_query_over(
        &mut self,
        r: usize,
        inc: u32,
        j: usize,
        outcome: QueryOutcome,
        sched: &mut Scheduler<Event>,
    ) {
        if self.replicas[r].incarnation != inc
            || self.replicas[r].jobs[j].phase != JobPhase::Querying
        {
            return;
        }
        self.job_step_over(r, j, outcome == QueryOutcome::TimedOut, sched);
    }

    /// A job's `work` step is over, unless its process died meanwhile.
    pub(super) fn on_job_work_done(
        &mut self,
        r: usize,
        inc: u32,
        j: usize,
        sched: &mut Scheduler<Event>,
    ) {
        if self.replicas[r].incarnation != inc
            || self.replicas[r].jobs[j].phase != JobPhase::Working
        {
            return;
        }
        self.job_step_over(r, j, false, sched);
    }

    /// The iteration's current step is over (`failed`: with an error the function
    /// returns). After its last step the iteration ends and, per iteration, gives its
    /// connection back; a failure or a passed deadline then ends the run, else the
    /// next step or iteration begins.
    fn job_step_over(&mut self, r: usize, j: usize, failed: bool, sched: &mut Scheduler<Event>) {
        let (release, pool, steps) = {
            let spec = &self.spec_of(r).jobs[j];
            (spec.release, spec.pool, spec.steps.len())
        };
        let job = &mut self.replicas[r].jobs[j];
        job.phase = JobPhase::Idle;
        job.step += 1;
        let iteration_over = usize::from(job.step) >= steps;
        if iteration_over {
            job.iteration += 1;
        }
        let deadline_passed = job.deadline_passed;
        if iteration_over && release == ReleaseMode::PerIteration {
            job.held -= 1;
            self.release(r, pool, sched);
        }
        if deadline_passed || failed {
            // An iteration cut short holds its connection until the run's end.
            self.job_end_run(r, j, sched);
        } else if iteration_over {
            self.job_next_iteration(r, j, sched);
        } else {
            self.job_begin_step(r, j, sched);
        }
    }

    pub(super) fn on_job_deadline(
        &mut self,
        r: usize,
        inc: u32,
        j: usize,
        sched: &mut Scheduler<Event>,
    ) {
        if self.replicas[r].incarnation != inc {
            return;
        }
        let pool = self.spec_of(r).jobs[j].pool;
        let job = &mut self.replicas[r].jobs[j];
        // An earlier run's deadline was cancelled when that run ended.
        job.deadline = None;
        if !job.running {
            return;
        }
        match job.phase {
            JobPhase::Acquiring => {
                self.remove_waiter(r, pool, Waiter::Job(j as u16), sched.now());
                self.job_end_run(r, j, sched);
            }
            JobPhase::Querying | JobPhase::Working => job.deadline_passed = true,
            JobPhase::Idle => self.job_end_run(r, j, sched),
        }
    }

    /// The batch function returns: its deferred closes run, per the release mode.
    pub(super) fn job_end_run(&mut self, r: usize, j: usize, sched: &mut Scheduler<Event>) {
        let (release, pool) = {
            let spec = &self.spec_of(r).jobs[j];
            (spec.release, spec.pool)
        };
        let job = &mut self.replicas[r].jobs[j];
        if let Some(timer) = job.deadline.take() {
            sched.cancel(timer);
        }
        let held = job.held;
        job.held = 0;
        job.running = false;
        job.phase = JobPhase::Idle;
        let again = job.due_while_running;
        let (to_release, to_leak) = match release {
            ReleaseMode::PerIteration => (held, 0),
            ReleaseMode::AtFunctionReturn => (held, 0),
            ReleaseMode::LastOnly => (held.min(1), held.saturating_sub(1)),
        };
        if to_leak > 0 {
            let s = self.replicas[r].service;
            self.replicas[r].pools[pool].leaked += to_leak;
            self.pools[s][pool].totals.leaked += u64::from(to_leak);
        }
        for _ in 0..to_release {
            self.release(r, pool, sched);
        }
        if again {
            self.job_start_run(r, j, sched);
        }
    }
}
