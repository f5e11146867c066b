//! Lowering: the raw file becomes a [`Scenario`], or an error at the user's line.
//!
//! This module is the entry point and what every part shares: the error context, name
//! checks and reference look-up, the replay's extent. Each component kind is lowered
//! by its own module, in the order [`lower`] calls them; that order is the order of
//! the checks, so it decides which error a file with several gets. Profile defaults
//! live with their component, each with the real value it copies: nginx in
//! [`gateways`], Go `database/sql` and HikariCP in [`pools`], PostgreSQL in
//! [`databases`], Linux `somaxconn` and Kubernetes back-off in [`services`],
//! Prometheus in [`alerts`] and [`prometheus`].

mod alerts;
mod autoscaler;
mod budgets;
pub use budgets::{rule_sample_reads, MAX_ALERT_SAMPLE_READS};
mod caches;
mod checks;
mod clients;
mod databases;
mod envoy;
mod faults;
mod fds;
mod gateways;
mod handlers;
mod jobs;
mod latency;
mod pools;
mod probes;
mod prometheus;
mod resilience;
mod routes;
mod services;
mod timeline;

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_saphyr::{Location, Spanned};

use crate::engine::Nanos;
use crate::model::spec::{FileRef, Scenario};

use super::raw::RawIncident;
use super::{IncidentError, IncidentWarning, Overrides};

/// Where errors point: the file's name and text; and the warnings found so far (a
/// cell, so that every lowering function keeps taking the context by reference).
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    warnings: RefCell<Vec<IncidentWarning>>,
}

impl Ctx<'_> {
    fn err(&self, loc: Location, message: String) -> IncidentError {
        IncidentError::at(self.file, self.text, loc.line(), loc.column(), message)
    }

    /// Note something valid that does not do what it says; the lowering goes on.
    fn warn(&self, loc: Location, message: String) {
        let w = IncidentWarning(self.err(loc, message));
        self.warnings.borrow_mut().push(w);
    }
}

fn loc<T>(s: &Spanned<T>) -> Location {
    s.referenced
}

/// How long the replay lasts and how finely it is sampled.
struct Extent {
    /// `duration` as written: timeline entries must lie within it.
    file_duration: Nanos,
    /// The replayed duration, after a command-line override.
    duration: Nanos,
    resolution: Nanos,
}

/// Validate `raw` into a scenario; what is valid but not what it says goes to
/// `warnings`, in file order within each kind of component.
pub fn lower(
    raw: RawIncident,
    file: &str,
    text: &str,
    ov: &Overrides,
    warnings: &mut Vec<IncidentWarning>,
) -> Result<Scenario, IncidentError> {
    let ctx = Ctx {
        file,
        text,
        warnings: RefCell::new(Vec::new()),
    };
    check_names(&ctx, &raw)?;
    let name = incident_name(&ctx, &raw)?;
    let sources = sources(&ctx, &raw.sources)?;
    budgets::texts(&ctx, &raw)?;
    let extent = budgets::extent(&ctx, &raw, ov)?;
    let (start_unix_ms, scrape_interval) = prometheus::lower(&ctx, &raw, &extent)?;
    let databases = databases::lower(&ctx, &raw.databases)?;
    let db_names: Vec<String> = databases.iter().map(|d| d.name.clone()).collect();
    let caches = caches::lower(&ctx, &raw.caches)?;
    let cache_names: Vec<String> = caches.iter().map(|c| c.name.clone()).collect();
    // Calls may name any service, so the names are known before the first one is lowered.
    let service_names: Vec<String> = raw.services.iter().map(|s| s.name.value.clone()).collect();
    let routes = routes::table(&ctx, &raw.services)?;
    let services = services::lower(
        &ctx,
        &raw.services,
        &service_names,
        &db_names,
        &routes,
        &cache_names,
    )?;
    checks::call_cycles(&ctx, &raw, &services)?;
    routes::calls_served(&ctx, &raw.services, &services, &routes)?;
    checks::call_depth(&ctx, &raw, &services)?;
    let gateways = gateways::lower(&ctx, &raw.gateways, &service_names, &routes)?;
    let gateway_names: Vec<String> = gateways.iter().map(|g| g.name.clone()).collect();
    let clients = clients::lower(
        &ctx,
        &raw.clients,
        &gateway_names,
        &service_names,
        &services,
        &gateways,
        &routes,
    )?;
    let client_names: Vec<String> = clients.iter().map(|c| c.name.clone()).collect();
    let known = timeline::Known {
        clients: &client_names,
        client_specs: &clients,
        gateways: &gateway_names,
        gateway_specs: &gateways,
        services: &service_names,
        databases: &db_names,
        routes: &routes,
        caches: &caches,
    };
    let timeline = timeline::lower(&ctx, &raw.timeline, &known, &services, &extent)?;

    let scenario = Scenario {
        name,
        title: raw
            .title
            .as_ref()
            .map_or_else(|| raw.name.value.clone(), |t| t.value.clone()),
        description: raw
            .description
            .as_ref()
            .map(|d| d.value.clone())
            .unwrap_or_default(),
        sources,
        seed: ov.seed.or(raw.seed).unwrap_or(1),
        duration: extent.duration,
        resolution: extent.resolution,
        scrape_interval,
        start_unix_ms,
        clients,
        gateways,
        services,
        databases,
        routes,
        caches,
        timeline,
        rule_groups: Vec::new(),
        alerts_file: raw.alerts_file.as_ref().map(|f| FileRef {
            path: f.value.clone(),
            line: f.referenced.line(),
            column: f.referenced.column(),
        }),
    };
    let rule_groups = alerts::lower(&ctx, &raw.alerts, &scenario)?;
    let scenario = Scenario {
        rule_groups,
        ..scenario
    };
    checks::graph_cycle(&ctx, &raw, &scenario)?;
    budgets::replicas(&ctx, &raw, &scenario)?;
    budgets::restart_loops(&ctx, &raw, &scenario)?;
    budgets::alerts(&ctx, &raw, &scenario)?;
    budgets::series(&ctx, &raw, &scenario)?;
    budgets::request_budget(&ctx, &raw, &scenario)?;
    checks::event_budget(&ctx, &raw, ov, &scenario)?;
    budgets::exported_samples(&ctx, &raw, &scenario)?;
    warnings.extend(ctx.warnings.into_inner());
    Ok(scenario)
}

/// Check the spelling of every component name, then that no name is used twice. The
/// duplicate is reported where it appears second in the file, whatever its kind.
fn check_names(ctx: &Ctx, raw: &RawIncident) -> Result<(), IncidentError> {
    let mut all: Vec<(&'static str, &Spanned<String>)> = Vec::new();
    all.extend(raw.clients.iter().map(|c| ("client", &c.name)));
    all.extend(raw.gateways.iter().map(|g| ("gateway", &g.name)));
    for s in &raw.services {
        all.push(("service", &s.name));
        all.extend(s.pools.iter().map(|p| ("pool", &p.name)));
        all.extend(s.jobs.iter().map(|j| ("job", &j.name)));
    }
    all.extend(raw.databases.iter().map(|d| ("database", &d.name)));
    all.extend(raw.caches.iter().map(|c| ("cache", &c.name)));
    all.sort_by_key(|(_, n)| (n.referenced.line(), n.referenced.column()));
    let mut seen: BTreeMap<&str, (&'static str, u64)> = BTreeMap::new();
    for (kind, name) in all {
        check_name(ctx, name)?;
        if let Some((other, line)) = seen.get(name.value.as_str()) {
            return Err(ctx.err(
                loc(name),
                format!(
                    "duplicate name `{}`: the {other} on line {line} already has it; every component needs its own name",
                    name.value
                ),
            ));
        }
        seen.insert(&name.value, (kind, name.referenced.line()));
    }
    Ok(())
}

/// A component name becomes a CSV column prefix: letters, digits, `-` and `_` only.
fn check_name(ctx: &Ctx, name: &Spanned<String>) -> Result<(), IncidentError> {
    let n = &name.value;
    let valid = !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(ctx.err(
            loc(name),
            format!(
                "`{n}` is not a valid name: use 1 to 64 letters, digits, `-` or `_` (names become CSV column prefixes)"
            ),
        ));
    }
    Ok(())
}

/// The incident's name, which also names its output folder.
fn incident_name(ctx: &Ctx, raw: &RawIncident) -> Result<String, IncidentError> {
    let name = raw.name.value.clone();
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(ctx.err(loc(&raw.name), format!("`{name}` cannot be an incident name: it names the output folder, so no slashes and no leading dot")));
    }
    Ok(name)
}

/// At most this many `sources`: a list of reports, not a bibliography.
const MAX_SOURCES: usize = 20;

/// The reports the file cites: each an `http://` or `https://` URL.
fn sources(ctx: &Ctx, raw: &[Spanned<String>]) -> Result<Vec<String>, IncidentError> {
    if let Some(extra) = raw.get(MAX_SOURCES) {
        return Err(ctx.err(
            loc(extra),
            format!(
                "{} sources: list at most {MAX_SOURCES}, the primary reports the file is built from",
                raw.len()
            ),
        ));
    }
    raw.iter()
        .map(|s| {
            let url = s.value.trim();
            let scheme = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            match scheme {
                Some(rest) if !rest.is_empty() && !url.contains(char::is_whitespace) => {
                    Ok(url.to_string())
                }
                _ => Err(ctx.err(
                    loc(s),
                    format!(
                        "source `{}` is not a URL: write the report's address, starting with https:// or http://",
                        s.value
                    ),
                )),
            }
        })
        .collect()
}

/// The index of the component `r` names among `names`, or an error listing them.
fn find(
    ctx: &Ctx,
    what: &str,
    names: &[String],
    r: &Spanned<String>,
) -> Result<usize, IncidentError> {
    names.iter().position(|n| *n == r.value).ok_or_else(|| {
        let known = if names.is_empty() {
            format!("there are no {what}s in this file")
        } else {
            format!("known {what}s: {}", names.join(", "))
        };
        ctx.err(loc(r), format!("unknown {what} `{}`: {known}", r.value))
    })
}

/// A status a file asks a rejection, a shed or an injected abort to answer: one of the
/// error statuses rewind tracks (`outcome::STATUSES`, less 200 and the 499 only a
/// client's leaving makes). `field` names it in the error.
fn tracked_error_status(ctx: &Ctx, field: &str, st: &Spanned<u16>) -> Result<u16, IncidentError> {
    let allowed: Vec<u16> = crate::outcome::STATUSES
        .into_iter()
        .filter(|&s| s >= 400 && s != 499)
        .collect();
    if allowed.contains(&st.value) {
        return Ok(st.value);
    }
    let (last, rest) = allowed.split_last().unwrap_or((&0, &[]));
    let rest: Vec<String> = rest.iter().map(u16::to_string).collect();
    Err(ctx.err(
        loc(st),
        format!(
            "{field} {} is not one rewind tracks: use {} or {last}",
            st.value,
            rest.join(", ")
        ),
    ))
}
