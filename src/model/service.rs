//! Services: the versions deployed (for rollouts and rollbacks), the replicas that
//! belong to the service, its random stream, and its totals.

use std::sync::Arc;

use crate::engine::{Nanos, NanosSum, SimRng};

use super::caller::CallerTotals;
use super::hpa::HpaRt;
use super::spec::ServiceSpec;
use crate::outcome::ServiceTotals;

pub(super) struct ServiceRt {
    /// Every revision deployed, by index; each replica holds the one it runs.
    pub(super) versions: Vec<Arc<ServiceSpec>>,
    pub(super) current: usize,
    pub(super) history: Vec<usize>,
    pub(super) replicas: Vec<usize>,
    /// The replicas callers are sent to (Kubernetes endpoints): those of `replicas`
    /// that have been ready at least once, in the same order.
    pub(super) endpoints: Vec<usize>,
    pub(super) next_ordinal: u32,
    pub(super) rng: SimRng,
    /// One stream per batch job (by index), for its steps' latencies: shared by the
    /// job's runs in every replica, apart from the handlers' draws.
    pub(super) job_rngs: Vec<SimRng>,
    /// Round-robin position for calls made to this service.
    pub(super) call_rr: super::rotation::Rotation,
    pub(super) totals: ServiceTotals,
    /// Totals of each `call` step (by step index), over all replicas and versions.
    pub(super) call_totals: Vec<CallerTotals>,
    /// Per-route counters of the current interval (by route index in the service).
    pub(super) route_counters: Vec<super::routes::ServiceRouteRt>,
    /// Faults injected now, and their draws.
    pub(super) faults: Option<super::spec::FaultSpec>,
    pub(super) fault_rng: SimRng,
    /// The service's autoscaler, if it has one.
    pub(super) hpa: Option<HpaRt>,
    /// Its connections in the system (queued or with a worker): handlers, whose slab's
    /// keys are 32 bits.
    pub(super) in_system: u32,
    pub(super) in_system_since: Nanos,
    /// The time integral of `in_system` (connection-nanoseconds), and the sums of the
    /// waits in the accept queue and of the responses' times: the totals' seconds,
    /// read at the end.
    pub(super) in_system_area: NanosSum,
    pub(super) queue_wait: NanosSum,
    pub(super) response_time: NanosSum,
}

impl ServiceRt {
    /// Service `spec` before its replicas are added: its first version, its own
    /// streams (handlers, jobs, faults) from the run's `seed`.
    pub(super) fn new(spec: &ServiceSpec, seed: u64) -> ServiceRt {
        let name = &spec.name;
        ServiceRt {
            versions: vec![Arc::new(spec.clone())],
            current: 0,
            history: Vec::new(),
            replicas: Vec::new(),
            endpoints: Vec::new(),
            next_ordinal: 0,
            rng: SimRng::stream(seed, &format!("service:{name}")),
            job_rngs: spec
                .jobs
                .iter()
                .map(|j| SimRng::stream(seed, &format!("job:{name}:{}", j.name)))
                .collect(),
            call_rr: Default::default(),
            totals: ServiceTotals {
                name: name.clone(),
                peak_fds: spec.fds.map_or(0, |f| u64::from(f.baseline)),
                ..Default::default()
            },
            in_system: 0,
            in_system_since: Nanos::ZERO,
            in_system_area: NanosSum::default(),
            queue_wait: NanosSum::default(),
            response_time: NanosSum::default(),
            call_totals: Vec::new(),
            route_counters: vec![Default::default(); spec.handler.routes.len()],
            faults: spec.faults,
            fault_rng: SimRng::stream(seed, &format!("faults:{name}")),
            hpa: spec.autoscaler.clone().map(HpaRt::new),
        }
    }
}
