//! Requests: the client side of one HTTP exchange (a client's, or a handler's call),
//! from the first try to the answer. The hand-off between callers and replicas.

use crate::engine::{Key, Nanos};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReqPhase {
    /// Handshake dropped; waiting for a retransmission or the connect timeout.
    Connecting { replica: usize },
    /// Connected; the request is with a handler (queued or running).
    Sent { handler: Key },
    /// Between attempts.
    Idle,
}

/// Who is waiting for a request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Caller {
    /// A client, by index.
    Client(u32),
    /// A handler making a `call` step.
    Handler(Key),
}

pub(super) struct Request {
    pub(super) caller: Caller,
    pub(super) gateway: Option<u32>,
    pub(super) arrived: Nanos,
    pub(super) attempt: u32,
    /// Servers tried so far, in order; its length is the number of tries.
    pub(super) tried: Vec<usize>,
    /// Tries the gateway allows this request (nginx's `peer.tries`), set at the first.
    pub(super) tries: u32,
    pub(super) phase: ReqPhase,
    pub(super) last_failure: Option<u16>,
}

impl Request {
    /// A request that has not tried any server yet.
    pub(super) fn new(caller: Caller, gateway: Option<u32>, arrived: Nanos) -> Request {
        Request {
            caller,
            gateway,
            arrived,
            attempt: 0,
            tried: Vec::new(),
            tries: 0,
            phase: ReqPhase::Idle,
            last_failure: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    Error,
    Timeout,
}
