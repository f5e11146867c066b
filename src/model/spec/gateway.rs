//! What a gateway is: nginx's upstream and proxy settings, Envoy's route and cluster.

use super::{LimitConnSpec, LimitReqSpec, RetryPolicy};
use crate::engine::Nanos;

/// Which failures make nginx try the next upstream (`proxy_next_upstream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextUpstream {
    /// `error`: refused, reset, closed early.
    pub error: bool,
    /// `timeout`: connect, send or read timeout.
    pub timeout: bool,
    /// `http_500`: an upstream 500.
    pub http_500: bool,
    /// `http_502`.
    pub http_502: bool,
    /// `http_503`.
    pub http_503: bool,
    /// `http_504`.
    pub http_504: bool,
    /// `http_429` (nginx 1.11.13 and later).
    pub http_429: bool,
    /// `non_idempotent`: retry POST/PATCH/LOCK even after sending.
    pub non_idempotent: bool,
}

impl NextUpstream {
    /// `off`: never try another upstream.
    pub const OFF: NextUpstream = NextUpstream {
        error: false,
        timeout: false,
        http_500: false,
        http_502: false,
        http_503: false,
        http_504: false,
        http_429: false,
        non_idempotent: false,
    };
    /// nginx's default, `error timeout`.
    pub const NGINX_DEFAULT: NextUpstream = NextUpstream {
        error: true,
        timeout: true,
        ..NextUpstream::OFF
    };

    /// Whether an upstream's answer with `status` is a failure worth the next server
    /// (`ngx_http_upstream_test_next`): the status is listed. Whether a try is left and
    /// the request may be sent again is the caller's to decide; nginx then counts the
    /// try against the server, as it does an error (only 403 and 404, which rewind
    /// does not track, do not count).
    pub fn lists_status(&self, status: u16) -> bool {
        match status {
            500 => self.http_500,
            502 => self.http_502,
            503 => self.http_503,
            504 => self.http_504,
            429 => self.http_429,
            _ => false,
        }
    }
}

/// How an nginx upstream group chooses a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalancerKind {
    /// Smooth weighted round-robin, nginx's default.
    RoundRobin,
    /// `least_conn`.
    LeastConn,
    /// `random`.
    Random,
    /// `random two least_conn`.
    RandomTwoLeastConn,
}

/// A reverse proxy with the nginx upstream/proxy semantics.
#[derive(Debug, Clone)]
pub struct GatewaySpec {
    /// Component name.
    pub name: String,
    /// Services whose replicas form the upstream group.
    pub upstream: Vec<usize>,
    /// How the group chooses a server.
    pub balancer: BalancerKind,
    /// `proxy_connect_timeout`.
    pub connect_timeout: Nanos,
    /// `proxy_read_timeout`: the wait for the response header (Envoy: the per-try
    /// timeout, None when unset).
    pub read_timeout: Option<Nanos>,
    /// `proxy_next_upstream`.
    pub next_upstream: NextUpstream,
    /// `proxy_next_upstream_tries`; 0 = limited only by the number of peers.
    pub next_upstream_tries: u32,
    /// `max_fails` per server; 0 disables passive health accounting.
    pub max_fails: u32,
    /// `fail_timeout` per server.
    pub fail_timeout: Nanos,
    /// `limit_req`, if any.
    pub limit_req: Option<LimitReqSpec>,
    /// `limit_conn`, if any.
    pub limit_conn: Option<LimitConnSpec>,
    /// Envoy's router and cluster settings when the gateway is an Envoy.
    pub envoy: Option<EnvoySpec>,
    /// `proxy_read_timeout` of a route's `location`, where it differs, by route id.
    pub route_read_timeouts: Vec<(usize, Option<Nanos>)>,
}

/// Envoy's load-balancing policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvoyLbPolicy {
    /// `ROUND_ROBIN` (the default).
    RoundRobin,
    /// `LEAST_REQUEST`, power of two choices.
    LeastRequest,
    /// `RANDOM`.
    Random,
}

/// Envoy's outlier detection (consecutive 5xx only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierDetection {
    /// `consecutive_5xx`.
    pub consecutive_5xx: u32,
    /// `interval`: how often ejections are reconsidered.
    pub interval: Nanos,
    /// `base_ejection_time`, times the host's ejection count.
    pub base_ejection_time: Nanos,
    /// `max_ejection_time`.
    pub max_ejection_time: Nanos,
    /// `max_ejection_percent`.
    pub max_ejection_percent: u32,
}

/// An Envoy route to one cluster, with the cluster's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvoySpec {
    /// Route `timeout` (15 s; None: disabled), over every try and back-off.
    pub route_timeout: Option<Nanos>,
    /// The route's retry policy (`attempts: 1` when it has none).
    pub retry: RetryPolicy,
    /// `lb_policy`.
    pub lb_policy: EnvoyLbPolicy,
    /// Circuit breakers: `max_connections`, `max_pending_requests`, `max_requests`.
    pub max_connections: u32,
    /// `max_pending_requests`.
    pub max_pending_requests: u32,
    /// `max_requests`.
    pub max_requests: u32,
    /// Outlier detection, if configured.
    pub outlier_detection: Option<OutlierDetection>,
}
