//! Which panels a replay gets, and their data: one status and one latency panel per
//! gateway, one panel per service (handlers in flight, accept queue, replicas up), one
//! per pool and per database, one per service with a memory model, one per service
//! that counts file descriptors, and each client's
//! offered load when the system has no pool. A panel with nothing to draw is left out.

use super::*;

/// A sum over replicas, or a figure of one replica: the panel titles say which.
const ALL_REPLICAS: &str = "all replicas";

impl Dashboard {
    /// Gather the panels from a replay.
    pub fn from_report(report: &Report) -> Dashboard {
        let series = &report.result.series;
        let scenario = report.scenario;
        let bk = buckets(series.rows());
        let duration_s = report.result.duration.as_secs_f64();
        let unit = if duration_s < 600.0 {
            ("seconds", 1.0)
        } else if duration_s <= 6.0 * 3600.0 {
            ("minutes", 60.0)
        } else {
            ("hours", 3600.0)
        };
        let minutes: Vec<f64> = bk.iter().map(|&(a, _)| series.time_s(a) / unit.1).collect();
        let end_minute = duration_s / unit.1;
        let cols = Cols { series, bk };
        let mut panels = Vec::new();
        status_panels(report, &cols, &mut panels);
        flag_panels(report, &cols, &mut panels);
        load_panels(report, &cols, &mut panels);
        // Every circuit breaker's state, one lane each, where the system has any.
        let lanes = breakers::lanes(report, unit.1);
        if !lanes.is_empty() {
            panels.push(PanelData {
                group: Group::Breakers,
                title: "circuit breakers: state over time".into(),
                kind: PanelKind::Breakers(lanes),
            });
        }

        latency_panels(report, &cols, &mut panels);
        service_panels(report, &cols, &mut panels);
        pool_panels(report, &cols, &mut panels);
        resource_panels(report, &cols, &mut panels);

        let mut seen = Vec::new();
        let markers = report
            .result
            .occurrences
            .iter()
            .filter_map(|o| marker_for(o, unit.1, &mut seen))
            .collect();
        Dashboard {
            title: scenario.title.clone(),
            minutes,
            end_minute,
            unit,
            panels,
            markers,
            regimes: report
                .result
                .regimes
                .spans
                .iter()
                .filter(|s| s.regime != Regime::Healthy)
                .map(|s| {
                    let at = |t: crate::engine::Nanos| t.as_secs_f64() / unit.1;
                    (at(s.from), at(s.to), s.regime)
                })
                .collect(),
        }
    }
}

/// The series' columns reduced to the chart's buckets.
struct Cols<'a> {
    series: &'a Series,
    bk: Vec<(usize, usize)>,
}

impl Cols<'_> {
    /// Column `name` reduced per bucket, if the series has it.
    fn column(&self, name: &str, reduce: Reduce) -> Option<Vec<f64>> {
        column(self.series, name, reduce, &self.bk)
    }

    /// Column `name` per second, zero where the series lacks it.
    fn rate(&self, name: String) -> Vec<f64> {
        self.column(&name, Reduce::RatePerS).unwrap_or_default()
    }

    /// Column `name`'s highest value per bucket, zero where the series lacks it.
    fn max(&self, name: String) -> Vec<f64> {
        self.column(&name, Reduce::Max).unwrap_or_default()
    }

    /// How many buckets (points of every line).
    fn len(&self) -> usize {
        self.bk.len()
    }
}

/// Responses per second by status, at every gateway; answers per client without.
fn status_panels(report: &Report, cols: &Cols, panels: &mut Vec<PanelData>) {
    let scenario = report.scenario;
    for g in &scenario.gateways {
        let layers = STATUSES
            .iter()
            .filter_map(|s| {
                let v = cols.column(&format!("{}.status_{s}", g.name), Reduce::RatePerS)?;
                // A status that never occurred would only crowd the legend.
                let seen = *s == 200 || v.iter().any(|&x| x > 0.0);
                seen.then(|| (s.to_string(), status_color(*s), v))
            })
            .collect();
        panels.push(PanelData {
            group: Group::Status,
            title: format!("{}: responses per second by status", g.name),
            kind: PanelKind::Stacked(layers),
        });
    }
    if scenario.gateways.is_empty() {
        for c in &scenario.clients {
            panels.push(PanelData {
                group: Group::Status,
                title: format!("{}: answers per second", c.name),
                kind: PanelKind::Stacked(vec![
                    (
                        "ok".into(),
                        status_color(200),
                        cols.rate(format!("{}.ok", c.name)),
                    ),
                    (
                        "failed".into(),
                        status_color(502),
                        cols.rate(format!("{}.failed", c.name)),
                    ),
                ]),
            });
        }
    }
}

/// Each Envoy gateway's responses by flag: why it answered what it did. A failed
/// response has one flag for its cause (solid lines), and may carry a second
/// (dashed): URX when its retries were used up, UO when the retry circuit
/// breaker refused its retry. The UO line is the pending queue's overflow alone.
fn flag_panels(report: &Report, cols: &Cols, panels: &mut Vec<PanelData>) {
    let scenario = report.scenario;
    for g in &scenario.gateways {
        if g.envoy.is_none() {
            continue;
        }
        let get = |m: &str| cols.column(&format!("{}.{m}", g.name), Reduce::RatePerS);
        let refused = get("retry_overflow").unwrap_or_default();
        let lines: Vec<Line> = ENVOY_FLAGS
            .iter()
            .filter_map(|flag| {
                let mut v = get(&format!("flag_{flag}"))?;
                if *flag == "UO" {
                    for (x, r) in v.iter_mut().zip(&refused) {
                        *x = (*x - r).max(0.0);
                    }
                }
                Some(flag_line(flag, v))
            })
            .chain(std::iter::once(Line::dashed(
                "UO beside its own flag: a retry max_retries or the budget refused",
                status_color(503),
                refused.clone(),
            )))
            // A flag never set would only crowd the legend.
            .filter(|l| l.values.iter().any(|&x| x > 0.0))
            .collect();
        if lines.is_empty() {
            continue;
        }
        panels.push(PanelData {
            group: Group::Flags,
            title: format!("{}: responses per second by Envoy response flag", g.name),
            kind: PanelKind::Lines {
                y_desc: "responses / s".into(),
                lines,
                right: None,
                integer: false,
            },
        });
    }
}

/// Without a pool, where retries and breakers show: offered load against goodput.
fn load_panels(report: &Report, cols: &Cols, panels: &mut Vec<PanelData>) {
    let scenario = report.scenario;
    let any_pool = scenario.services.iter().any(|s| !s.pools.is_empty());
    if !any_pool {
        for (ci, c) in scenario.clients.iter().enumerate() {
            let mut lines = vec![
                Line::dashed("new requests", GREY, cols.rate(format!("{}.sent", c.name))),
                Line::solid(
                    "attempts (retries included)",
                    DARK_RED,
                    cols.rate(format!("{}.attempts", c.name)),
                ),
                Line::solid(
                    "answered ok (goodput)",
                    status_color(200),
                    cols.rate(format!("{}.ok", c.name)),
                ),
            ];
            // What a breaker or bulkhead refused never became an attempt.
            let refused = report.result.clients.get(ci).map_or(0, |t| {
                t.caller.breaker_rejected + t.caller.bulkhead_rejected
            });
            if refused > 0 {
                lines.push(Line::dashed(
                    "refused by its breaker or bulkhead (not sent)",
                    PURPLE,
                    cols.rate(format!("{}.rejected", c.name)),
                ));
            }
            panels.push(PanelData {
                group: Group::Load,
                title: format!("{}: offered load and goodput", c.name),
                kind: PanelKind::Lines {
                    y_desc: "requests / s".into(),
                    lines,
                    right: None,
                    integer: false,
                },
            });
        }
    }
}

/// Response times at every gateway: successes apart from all responses, since
/// fast failures pull the percentiles of all responses down (or slow ones up).
fn latency_panels(report: &Report, cols: &Cols, panels: &mut Vec<PanelData>) {
    let scenario = report.scenario;
    for g in &scenario.gateways {
        let get = |m: &str| cols.max(format!("{}.{m}", g.name));
        panels.push(PanelData {
            group: Group::Latency,
            title: format!("{}: response time (log scale)", g.name),
            kind: PanelKind::Latency(vec![
                Line::solid("p50 of 200s", status_color(200), get("ok_p50_ms")),
                Line::solid("p99 of 200s", BLUE, get("ok_p99_ms")),
                Line::dashed(
                    "p99 of all responses, failures included",
                    DARK_RED,
                    get("p99_ms"),
                ),
            ]),
        });
    }
}

/// Every service: handlers in flight and its accept queue, which for a stalled
/// handler or a random router is the whole story, with replicas up beside them.
fn service_panels(report: &Report, cols: &Cols, panels: &mut Vec<PanelData>) {
    let scenario = report.scenario;
    for s in &scenario.services {
        let get = |m: &str| cols.max(format!("{}.{m}", s.name));
        let up = cols
            .column(&format!("{}.replicas_up", s.name), Reduce::Min)
            .unwrap_or_default();
        panels.push(PanelData {
            group: Group::Services,
            title: format!(
                "{}: handlers in flight and accept queue ({ALL_REPLICAS}), replicas up",
                s.name
            ),
            kind: PanelKind::Lines {
                y_desc: "connections".into(),
                lines: vec![
                    Line::solid("handlers in flight", BLUE, get("inflight")),
                    Line::solid("in the accept queue", DARK_RED, get("queued")),
                ],
                right: Some(RightAxis {
                    desc: "replicas up".into(),
                    line: Line::solid("replicas up (right axis)", status_color(200), up),
                    integer: true,
                }),
                integer: false,
            },
        });
    }
}

/// Every pool, and every database's connections against max_connections.
fn pool_panels(report: &Report, cols: &Cols, panels: &mut Vec<PanelData>) {
    let scenario = report.scenario;
    for s in &scenario.services {
        for p in &s.pools {
            let get = |m: &str| cols.max(format!("{}.{m}", p.name));
            panels.push(PanelData {
                group: Group::Pool,
                title: format!(
                    "pool {} of {}: connections ({ALL_REPLICAS})",
                    p.name, s.name
                ),
                kind: PanelKind::Lines {
                    y_desc: "connections".into(),
                    lines: vec![
                        Line::dashed("pool size", GREY, get("max_open")),
                        Line::solid("in use", BLUE, get("in_use")),
                        Line::solid("leaked", PURPLE, get("leaked")),
                    ],
                    right: Some(RightAxis {
                        desc: "callers waiting".into(),
                        line: Line::solid("callers waiting (right axis)", DARK_RED, get("waiting")),
                        integer: true,
                    }),
                    integer: false,
                },
            });
        }
    }
    for db in &scenario.databases {
        let get = |m: &str| cols.max(format!("{}.{m}", db.name));
        panels.push(PanelData {
            group: Group::Pool,
            title: format!("database {}: connections against max_connections", db.name),
            kind: PanelKind::Lines {
                y_desc: "connections".into(),
                lines: vec![
                    Line::dashed(
                        format!("max_connections ({})", db.max_connections),
                        DARK_RED,
                        vec![f64::from(db.max_connections); cols.len()],
                    ),
                    Line::solid("connections open", BLUE, get("connections")),
                    Line::solid("queries running", status_color(200), get("running_queries")),
                ],
                right: None,
                integer: false,
            },
        });
    }
}

/// Memory and file descriptors, where a service has a model of them: the highest
/// replica against the limit each replica has.
fn resource_panels(report: &Report, cols: &Cols, panels: &mut Vec<PanelData>) {
    let scenario = report.scenario;
    for s in &scenario.services {
        let Some(m) = s.memory else { continue };
        panels.push(PanelData {
            group: Group::Memory,
            title: format!("{}: memory of the highest replica (per replica)", s.name),
            kind: PanelKind::Lines {
                y_desc: "MiB".into(),
                lines: vec![
                    Line::solid(
                        "memory (highest replica)",
                        BLUE,
                        cols.max(format!("{}.memory_mib", s.name)),
                    ),
                    Line::dashed(
                        "limit (per replica)",
                        DARK_RED,
                        vec![m.limit_mib; cols.len()],
                    ),
                ],
                right: None,
                integer: false,
            },
        });
    }

    // File descriptors, where a service counts them: the highest replica against
    // its RLIMIT_NOFILE, the sawtooth of a leak that crashes the process.
    for s in &scenario.services {
        let Some(f) = s.fds else { continue };
        panels.push(PanelData {
            group: Group::Memory,
            title: format!(
                "{}: open file descriptors of the highest replica (per replica)",
                s.name
            ),
            kind: PanelKind::Lines {
                y_desc: "descriptors".into(),
                lines: vec![
                    Line::solid(
                        "open (highest replica)",
                        BLUE,
                        cols.max(format!("{}.fds", s.name)),
                    ),
                    Line::dashed(
                        format!("limit (RLIMIT_NOFILE {})", f.limit),
                        DARK_RED,
                        vec![f64::from(f.limit); cols.len()],
                    ),
                ],
                right: None,
                integer: true,
            },
        });
    }
}

/// The line of one Envoy response flag, in a colour of its own (the status it comes
/// with, where it has one); URX, a flag beside the cause's, dashed.
fn flag_line(flag: &str, values: Vec<f64>) -> Line {
    let label = match flag {
        "UF" => "UF: connection failed (503)",
        "UH" => "UH: no healthy upstream (503)",
        "UO" => "UO: circuit breaker overflow, refused at once (503)",
        "UT" => "UT: upstream timeout (504)",
        "UC" => "UC: connection reset (503)",
        _ => "URX beside its own flag: retries used up",
    };
    let color = match flag {
        "UF" => status_color(502),
        "UH" => BLUE,
        "UO" => status_color(503),
        "UT" => status_color(504),
        "UC" => PURPLE,
        _ => GREY,
    };
    if flag == "URX" {
        Line::dashed(label, color, values)
    } else {
        Line::solid(label, color, values)
    }
}
