//! Everything that can happen, grouped by the component that owns the event. Kept
//! small and `Copy`: events are moved through the queue on every step, and dispatch is
//! a `match` (no boxing, no dynamic dispatch). An `Event` is 16 bytes (a test pins
//! it): attempt and wait numbers are 16-bit, compared as such, which is enough to tell
//! a late timer from the current one (and such timers are cancelled anyway).

use crate::engine::Key;

/// An event, addressed to the component kind that handles it.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// For a client, or the HTTP client of a handler's call.
    Client(ClientEvent),
    /// For a gateway's upstream timers.
    Gateway(GatewayEvent),
    /// For the caller's TCP stack connecting to a replica's listener.
    Listener(ListenerEvent),
    /// For a handler running on a replica.
    Handler(HandlerEvent),
    /// For a batch job in a replica.
    Job(JobEvent),
    /// For a database's queries.
    Database(DatabaseEvent),
    /// For a replica's process lifecycle.
    Replica(ReplicaEvent),
    /// A timeline entry.
    Timeline { index: u32 },
    /// A service's autoscaler syncs.
    Hpa { service: u32 },
}

/// Events of clients (and of the HTTP client making a handler's call).
#[derive(Debug, Clone, Copy)]
pub enum ClientEvent {
    /// A client sends its next request.
    Arrival { client: u32, generation: u32 },
    /// A client, or a handler's HTTP client on a call, stops waiting for an attempt.
    GiveUp { req: Key },
    /// A retry's back-off is over.
    Retry { req: Key },
}

/// Events of a gateway's upstream attempt.
#[derive(Debug, Clone, Copy)]
pub enum GatewayEvent {
    /// The gateway's connect timer expires.
    ConnectTimeout { req: Key, attempt: u16 },
    /// The gateway's read timer expires.
    ReadTimeout { req: Key, attempt: u16 },
    /// A request `limit_req` delayed may go on (`attempt`: the caller's attempt count).
    Admit { req: Key, attempt: u16 },
    /// An Envoy route's timeout expires.
    RouteTimeout { req: Key },
    /// An Envoy retry's back-off is over.
    EnvoyRetry { req: Key, attempt: u16 },
    /// An Envoy cluster has a free connection for a pending request.
    Dequeue { gateway: u32 },
    /// An Envoy cluster's outlier detection interval.
    OutlierTick { gateway: u32 },
}

/// Events of a connection being opened to a replica's listener.
#[derive(Debug, Clone, Copy)]
pub enum ListenerEvent {
    /// A dropped handshake is retransmitted.
    SynRetry { req: Key, retry: u8 },
}

/// Events of a handler.
#[derive(Debug, Clone, Copy)]
pub enum HandlerEvent {
    /// A handler's work step ends.
    StepDone { handler: Key },
    /// The handler at the head of a replica's cores has done its work step.
    CpuDone { replica: u32 },
    /// An injected delay is over: the handler goes on.
    FaultDelayOver { handler: Key },
    /// A handler's wait for a connection reaches the acquire timeout.
    AcquireTimeout { handler: Key, wait: u16 },
    /// A handler's cache lookup has come back.
    CacheAnswered { handler: Key },
    /// A handler has written one chunk of its response body.
    ChunkWritten { handler: Key },
}

/// Events of a batch job, addressed by replica, the replica's incarnation (a restart
/// makes older events stale) and the job's index.
#[derive(Debug, Clone, Copy)]
pub enum JobEvent {
    /// A job's schedule comes round.
    Due {
        replica: u32,
        incarnation: u32,
        job: u16,
    },
    /// A job run's context deadline passes (cancelled when the run ends first).
    Deadline {
        replica: u32,
        incarnation: u32,
        job: u16,
    },
    /// A job's `work` step has taken its time (never cancelled: a run never ends
    /// during one, and a restart makes it stale).
    WorkDone {
        replica: u32,
        incarnation: u32,
        job: u16,
    },
}

/// Events of a database's queries.
#[derive(Debug, Clone, Copy)]
pub enum DatabaseEvent {
    /// A query of a database without `cpus` has taken its time.
    QueryDone { database: u32, query: Key },
    /// A query reaches `statement_timeout`.
    StatementTimeout { database: u32, query: Key },
    /// The query at the head of a database's cores is done.
    CpuDone { database: u32 },
}

/// Events of a replica's process.
#[derive(Debug, Clone, Copy)]
pub enum ReplicaEvent {
    /// A crashed process is started again (after the back-off).
    Start { replica: u32, incarnation: u32 },
    /// A started process begins accepting connections.
    Ready { replica: u32, incarnation: u32 },
    /// A kubelet probe may be due (`kind` as `ProbeKind::ALL` orders them).
    Probe {
        replica: u32,
        incarnation: u32,
        kind: u8,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_event_is_sixteen_bytes() {
        // Every pending event is a heap or lane entry: its size is the queue's speed.
        assert_eq!(std::mem::size_of::<super::Event>(), 16);
    }
}
