//! The system as a graph: who sends to whom, which pool talks to which database.
//!
//! Used to reject cyclic call graphs before a run and to print the topology as
//! Graphviz DOT (`rewind graph`).

use petgraph::algo::is_cyclic_directed;
use petgraph::graph::{DiGraph, NodeIndex};

use super::spec::{CacheModel, CacheScope, CacheSpec, GatewaySpec, Scenario, Step, Target};
use crate::outcome::exposition::ComponentKind;

/// One node: kind, name, and a short label.
#[derive(Debug, Clone)]
pub struct Node {
    /// Kind.
    pub kind: ComponentKind,
    /// Component name.
    pub name: String,
    /// Settings worth showing on the node.
    pub label: String,
}

/// The topology graph of a scenario.
pub fn graph(s: &Scenario) -> DiGraph<Node, &'static str> {
    let mut g = DiGraph::new();
    let add = |g: &mut DiGraph<Node, &'static str>, kind, name: &str, label: String| {
        g.add_node(Node {
            kind,
            name: name.to_string(),
            label,
        })
    };
    let clients: Vec<NodeIndex> = s
        .clients
        .iter()
        .map(|c| {
            add(
                &mut g,
                ComponentKind::Client,
                &c.name,
                format!("{}\\n{}/s", c.name, c.rate_per_s),
            )
        })
        .collect();
    let gateways: Vec<NodeIndex> = s
        .gateways
        .iter()
        .map(|gw| add(&mut g, ComponentKind::Gateway, &gw.name, gateway_label(gw)))
        .collect();
    let services: Vec<NodeIndex> = s
        .services
        .iter()
        .map(|sv| {
            add(
                &mut g,
                ComponentKind::Service,
                &sv.name,
                format!("{}\\n{} replica(s)", sv.name, sv.replicas),
            )
        })
        .collect();
    let databases: Vec<NodeIndex> = s
        .databases
        .iter()
        .map(|d| {
            add(
                &mut g,
                ComponentKind::Database,
                &d.name,
                format!("{}\\nmax_connections {}", d.name, d.max_connections),
            )
        })
        .collect();
    for (i, c) in s.clients.iter().enumerate() {
        let to = match c.target {
            Target::Gateway(x) => gateways[x],
            Target::Service(x) => services[x],
        };
        g.add_edge(clients[i], to, "requests");
    }
    for (i, gw) in s.gateways.iter().enumerate() {
        for &up in &gw.upstream {
            g.add_edge(gateways[i], services[up], "proxy_pass");
        }
    }
    let caches: Vec<NodeIndex> = s
        .caches
        .iter()
        .map(|c| add(&mut g, ComponentKind::Cache, &c.name, cache_label(c)))
        .collect();
    for (i, sv) in s.services.iter().enumerate() {
        let pools: Vec<NodeIndex> = sv
            .pools
            .iter()
            .map(|p| {
                let size = p
                    .max_open
                    .map_or("unlimited".to_string(), |m| m.to_string());
                let n = add(
                    &mut g,
                    ComponentKind::Pool,
                    &p.name,
                    format!("{}\\npool of {size}", p.name),
                );
                g.add_edge(n, databases[p.database], "connections");
                n
            })
            .collect();
        for step in &sv.handler.steps {
            let (to, label) = match step {
                Step::Query { pool, .. } => (pools[*pool], "queries"),
                Step::Call { service, .. } => (services[*service], "calls"),
                Step::Cached { cache, .. } => (caches[*cache], "looks up"),
                Step::Work(_) | Step::Body { .. } | Step::Leak { .. } => continue,
            };
            if g.find_edge(services[i], to).is_none() {
                g.add_edge(services[i], to, label);
            }
        }
        for j in &sv.jobs {
            let n = add(
                &mut g,
                ComponentKind::Job,
                &j.name,
                format!(
                    "{}\\nevery {}, {} iterations",
                    j.name, j.every, j.iterations
                ),
            );
            g.add_edge(services[i], n, "runs");
            g.add_edge(n, pools[j.pool], "queries");
        }
    }
    g
}

/// A gateway's node: its name, kind and (per-try or read) timeout.
fn gateway_label(gw: &GatewaySpec) -> String {
    match (&gw.envoy, gw.read_timeout) {
        (Some(_), Some(t)) => format!("{}\\nenvoy, per-try timeout {t}", gw.name),
        (Some(_), None) => format!("{}\\nenvoy", gw.name),
        (None, Some(t)) => format!("{}\\nnginx, read timeout {t}", gw.name),
        (None, None) => format!("{}\\nnginx", gw.name),
    }
}

/// A cache's node: its name, TTL or hit ratio, and scope.
fn cache_label(c: &CacheSpec) -> String {
    let what = match &c.model {
        CacheModel::Keyed(k) => format!("TTL {}", k.ttl),
        CacheModel::HitRatio(p) => format!("hit ratio {p}"),
    };
    let scope = match c.scope {
        CacheScope::Process => "per process",
        CacheScope::Shared => "shared",
    };
    format!("{}\\n{what}, {scope}", c.name)
}

/// Whether requests could loop back to a component they came from.
pub fn has_cycle(s: &Scenario) -> bool {
    is_cyclic_directed(&graph(s))
}

/// A loop of service-to-service calls, as service indices `[a, b, ..., a]`, if any.
/// Found by depth-first search in file order, so the same file names the same loop.
pub fn call_cycle(services: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        v: usize,
        calls: &[Vec<usize>],
        mark: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        mark[v] = Mark::OnPath;
        path.push(v);
        for &w in &calls[v] {
            match mark[w] {
                Mark::OnPath => {
                    let start = path.iter().position(|&x| x == w).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(w);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(w, calls, mark, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        mark[v] = Mark::Done;
        None
    }
    let mut mark = vec![Mark::New; services.len()];
    for v in 0..services.len() {
        if mark[v] == Mark::New {
            if let Some(c) = visit(v, services, &mut mark, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// The topology as Graphviz DOT.
pub fn to_dot(s: &Scenario) -> String {
    let g = graph(s);
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n",
        s.name.replace('"', "'")
    );
    for idx in g.node_indices() {
        let n = &g[idx];
        let shape = match n.kind {
            ComponentKind::Client => "ellipse",
            ComponentKind::Gateway => "hexagon",
            ComponentKind::Service => "box",
            ComponentKind::Pool => "component",
            ComponentKind::Job => "note",
            ComponentKind::Database => "cylinder",
            ComponentKind::Cache => "box3d",
        };
        out.push_str(&format!(
            "  n{} [label=\"{}\", shape={shape}];\n",
            idx.index(),
            n.label.replace('"', "'")
        ));
    }
    for e in g.edge_indices() {
        if let Some((a, b)) = g.edge_endpoints(e) {
            out.push_str(&format!(
                "  n{} -> n{} [label=\"{}\"];\n",
                a.index(),
                b.index(),
                g[e]
            ));
        }
    }
    out.push_str("}\n");
    out
}
