//! The regimes a replay went through: `healthy`, `degraded`, `overloaded`,
//! `recovering` and `metastable`, read off the finished time series like the alert
//! rules (they observe the run and never change it).
//!
//! Three signals, each over a window of [`WINDOW`] centred on a row of the series:
//! - **goodput share**: the clients' requests that succeeded (`<client>.ok`) over
//!   those they sent (`<client>.sent`, first attempts: the users' demand, retries
//!   not counted), summed over clients;
//! - **latency**: the mean time of the gateways' 200s (`<gateway>.ok_mean_ms`,
//!   weighted by `status_200`);
//! - **backlog**: requests held at the services (`inflight` + `queued`, summed), and
//!   how much it grew or shrank across the window.
//!
//! A row is `healthy` when goodput is within [`GOODPUT_SLACK`] of the healthy
//! baseline, latency at most [`LATENCY_FACTOR`] times the baseline's, and the backlog
//! not growing; `overloaded` when the backlog grows by more than [`BACKLOG_SHARE`] of
//! the window's demand, or when less than half the baseline goodput is served and the
//! backlog is not draining; `recovering` when it is not healthy and the backlog
//! drains; `degraded` otherwise. The baseline is the stretch before the first entry
//! of the timeline marked `role: trigger`; with no trigger but a `role: fix` (trouble
//! from the start), the stretch after the last fix; with no role at all, before the
//! first entry. Runs shorter than half a window are absorbed by the run before them, so
//! Poisson noise does not flicker the labels. The degraded tail of an overload that
//! ends healthy is `recovering` too (goodput comes back before latency settles).
//!
//! `metastable`: an entry marked `role: trigger_end` has passed, no entry marked
//! `role: fix` followed within [`SETTLE`], and the system was not healthy at any
//! moment of that [`SETTLE`]: from the trigger's end until it is healthy again (or
//! until the fix), it was stuck after its cause was gone.

use crate::engine::Nanos;

use super::Series;

/// Width of the window each row's signals are taken over (centred on the row).
pub const WINDOW: Nanos = Nanos::from_secs(60);
/// How long the system must stay down after a trigger ends, with no fix, to be
/// called metastable; also how long it must stay healthy to count as recovered.
pub const SETTLE: Nanos = Nanos::from_secs(300);
/// Goodput this far (absolute share) below the baseline's is no longer healthy.
pub const GOODPUT_SLACK: f64 = 0.02;
/// Latency above this multiple of the baseline's is no longer healthy.
pub const LATENCY_FACTOR: f64 = 2.0;
/// A backlog that grows (or shrinks) by more than this share of the window's
/// demand is growing (draining); at least [`BACKLOG_FLOOR`] requests.
pub const BACKLOG_SHARE: f64 = 0.05;
/// The smallest backlog change that counts, in requests.
pub const BACKLOG_FLOOR: f64 = 10.0;

/// What an entry of the timeline means for the regimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It starts the trouble (a bad deploy, a spike): the baseline ends here.
    Trigger,
    /// The trigger is gone (the spike ends): the system should come back by itself.
    TriggerEnd,
    /// An operator's fix (a rollback, added capacity).
    Fix,
}

impl Role {
    /// The word the incident file and `summary.json` use.
    pub fn name(self) -> &'static str {
        match self {
            Role::Trigger => "trigger",
            Role::TriggerEnd => "trigger_end",
            Role::Fix => "fix",
        }
    }
}

/// The state of the system over a stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regime {
    /// Serving its demand as well and as fast as before the trigger.
    Healthy,
    /// Serving, but failing more or slower than before the trigger.
    Degraded,
    /// Demand beyond what it serves: a growing backlog, or most requests failing.
    Overloaded,
    /// Coming back: the backlog drains, or goodput is back and latency settling.
    Recovering,
    /// Stuck after its trigger ended, with no fix.
    Metastable,
}

impl Regime {
    /// The word `summary.json` and the report use.
    pub fn name(self) -> &'static str {
        match self {
            Regime::Healthy => "healthy",
            Regime::Degraded => "degraded",
            Regime::Overloaded => "overloaded",
            Regime::Recovering => "recovering",
            Regime::Metastable => "metastable",
        }
    }
}

/// One entry of the timeline, as the regimes see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// When it happens.
    pub at: Nanos,
    /// What it means, if the file says.
    pub role: Option<Role>,
}

/// Where the signals are read: component names of the scenario.
#[derive(Debug, Clone, Default)]
pub struct Sources<'a> {
    /// Clients (their `sent` and `ok`).
    pub clients: Vec<&'a str>,
    /// Gateways (their `ok_mean_ms` and `status_200`).
    pub gateways: Vec<&'a str>,
    /// Services (their `inflight` and `queued`).
    pub services: Vec<&'a str>,
}

/// A stretch of one regime, with what its signals were over it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegimeSpan {
    /// Start.
    pub from: Nanos,
    /// End (the next span's start).
    pub to: Nanos,
    /// Which regime.
    pub regime: Regime,
    /// Requests that succeeded over those sent, over the span (None: nothing sent).
    pub goodput_share: Option<f64>,
    /// Mean time of the gateways' 200s over the span (None: no 200 at a gateway).
    pub ok_mean_ms: Option<f64>,
    /// Most requests held at the services at once.
    pub peak_backlog: f64,
    /// For `metastable`: the index (in the timeline) of the entry whose trigger ended.
    pub after_mark: Option<usize>,
}

/// What the system was like before its trigger: what healthy means for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// Start of the baseline stretch.
    pub from: Nanos,
    /// Its end.
    pub to: Nanos,
    /// Its goodput share (1 if nothing was sent).
    pub goodput_share: f64,
    /// Its mean time of 200s; None when there is no gateway, no 200, or the stretch
    /// is shorter than a window (then latency does not enter the regimes).
    pub ok_mean_ms: Option<f64>,
}

/// The regimes of one replay.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Regimes {
    /// Consecutive spans covering the replay, in time order.
    pub spans: Vec<RegimeSpan>,
    /// Per timeline entry (same order): how long after it the system was healthy for
    /// [`SETTLE`] (or to the end); zero if it stayed healthy through the [`SETTLE`]
    /// after it; None if it never came back.
    pub recovered_after: Vec<Option<Nanos>>,
    /// What healthy was measured against (None without any client).
    pub baseline: Option<Baseline>,
}

/// The per-row sums the signals are windows of.
struct Rows {
    sent: Vec<f64>,
    ok: Vec<f64>,
    /// Sum of `ok_mean_ms * status_200` over gateways.
    ok_ms: Vec<f64>,
    ok_n: Vec<f64>,
    backlog: Vec<f64>,
}

/// Sum the named columns of each row (NaN and missing columns count as zero), or of
/// the products of two columns.
fn row_sums(series: &Series, columns: &[(String, Option<String>)]) -> Vec<f64> {
    let idx: Vec<(usize, Option<usize>)> = columns
        .iter()
        .filter_map(|(a, b)| {
            let a = series.column(a)?;
            match b {
                None => Some((a, None)),
                Some(b) => Some((a, Some(series.column(b)?))),
            }
        })
        .collect();
    (0..series.rows())
        .map(|r| {
            let row = series.row(r);
            idx.iter()
                .map(|&(a, b)| {
                    let v = row[a] * b.map_or(1.0, |b| row[b]);
                    if v.is_finite() {
                        v
                    } else {
                        0.0
                    }
                })
                .sum()
        })
        .collect()
}

impl Rows {
    fn read(series: &Series, src: &Sources) -> Rows {
        let cols = |names: &[&str], metrics: &[&str]| -> Vec<(String, Option<String>)> {
            names
                .iter()
                .flat_map(|n| metrics.iter().map(move |m| (format!("{n}.{m}"), None)))
                .collect()
        };
        let weighted: Vec<(String, Option<String>)> = src
            .gateways
            .iter()
            .map(|g| (format!("{g}.ok_mean_ms"), Some(format!("{g}.status_200"))))
            .collect();
        Rows {
            sent: row_sums(series, &cols(&src.clients, &["sent"])),
            ok: row_sums(series, &cols(&src.clients, &["ok"])),
            ok_ms: row_sums(series, &weighted),
            ok_n: row_sums(series, &cols(&src.gateways, &["status_200"])),
            backlog: row_sums(series, &cols(&src.services, &["inflight", "queued"])),
        }
    }

    fn len(&self) -> usize {
        self.sent.len()
    }

    fn goodput(&self, lo: usize, hi: usize) -> Option<f64> {
        let sent: f64 = self.sent[lo..hi].iter().sum();
        let ok: f64 = self.ok[lo..hi].iter().sum();
        (sent > 0.0).then(|| (ok / sent).min(1.0))
    }

    fn ok_mean_ms(&self, lo: usize, hi: usize) -> Option<f64> {
        let n: f64 = self.ok_n[lo..hi].iter().sum();
        (n > 0.0).then(|| self.ok_ms[lo..hi].iter().sum::<f64>() / n)
    }

    fn peak_backlog(&self, lo: usize, hi: usize) -> f64 {
        self.backlog[lo..hi].iter().copied().fold(0.0, f64::max)
    }
}

/// Rows per `span` of time (at least one).
fn rows_in(span: Nanos, resolution: Nanos) -> usize {
    (span.0.div_ceil(resolution.0.max(1)) as usize).max(1)
}

/// The row holding instant `at`.
fn row_of(at: Nanos, resolution: Nanos, rows: usize) -> usize {
    ((at.0 / resolution.0.max(1)) as usize).min(rows)
}

/// Label the replay's regimes and each timeline entry's recovery.
pub fn classify(series: &Series, src: &Sources, marks: &[Mark], duration: Nanos) -> Regimes {
    let rows = Rows::read(series, src);
    let n = rows.len();
    if n == 0 || src.clients.is_empty() {
        return Regimes {
            recovered_after: vec![None; marks.len()],
            ..Regimes::default()
        };
    }
    let res = series.resolution;
    let half = rows_in(Nanos(WINDOW.0 / 2), res);
    let window = |i: usize| (i.saturating_sub(half), (i + half + 1).min(n));

    let (base_from, base_to) = baseline_rows(marks, res, n);
    let baseline = Baseline {
        from: Nanos(res.0.saturating_mul(base_from as u64)),
        to: if base_to == n {
            duration
        } else {
            Nanos(res.0.saturating_mul(base_to as u64))
        },
        goodput_share: rows.goodput(base_from, base_to).unwrap_or(1.0),
        ok_mean_ms: (base_to - base_from >= 2 * half)
            .then(|| rows.ok_mean_ms(base_from, base_to))
            .flatten(),
    };

    let mut labels: Vec<Regime> = (0..n)
        .map(|i| {
            let (lo, hi) = window(i);
            row_regime(&rows, lo, hi, &baseline)
        })
        .collect();
    absorb_short_runs(&mut labels, half);
    let mark_rows: Vec<usize> = marks.iter().map(|m| row_of(m.at, res, n)).collect();
    snap_to_marks(&mut labels, &mark_rows, half);
    // Snapping can leave a sliver shorter than the smoothing allows.
    absorb_short_runs(&mut labels, half);
    recovering_tails(&mut labels, &mark_rows);
    let after_mark = metastable(&mut labels, marks, res, duration);

    let spans = spans(&rows, &labels, &after_mark, res, duration);
    let settle_rows = rows_in(SETTLE, res);
    let recovered_after = marks
        .iter()
        .map(|m| {
            let from = row_of(m.at, res, n);
            let trigger = m.role == Some(Role::Trigger);
            recovered_after(&labels, from, settle_rows, trigger, res, m.at)
        })
        .collect();
    Regimes {
        spans,
        recovered_after,
        baseline: Some(baseline),
    }
}

/// The rows of the healthy baseline: before the first trigger; when no entry is a
/// trigger but one is a fix (the trouble was there from the start), after the last
/// fix; when no entry says, before the first entry (the whole run without entries).
fn baseline_rows(marks: &[Mark], res: Nanos, n: usize) -> (usize, usize) {
    let first = |role: Role| marks.iter().find(|m| m.role == Some(role));
    let last_fix = marks.iter().rev().find(|m| m.role == Some(Role::Fix));
    match (first(Role::Trigger), last_fix, marks.first()) {
        (Some(t), _, _) => (0, row_of(t.at, res, n).max(1)),
        (None, Some(f), _) => (row_of(f.at, res, n).min(n - 1), n),
        (None, None, Some(e)) => (0, row_of(e.at, res, n).max(1)),
        (None, None, None) => (0, n),
    }
}

/// The regime of the window `[lo, hi)` before the smoothing and relabelling passes.
fn row_regime(rows: &Rows, lo: usize, hi: usize, base: &Baseline) -> Regime {
    let demand: f64 = rows.sent[lo..hi].iter().sum();
    let growth = rows.backlog[hi - 1] - if lo == 0 { 0.0 } else { rows.backlog[lo - 1] };
    let threshold = (BACKLOG_SHARE * demand).max(BACKLOG_FLOOR);
    let growing = growth > threshold;
    let draining = growth < -threshold;
    let goodput = rows.goodput(lo, hi);
    let served = goodput.is_none_or(|g| g >= base.goodput_share - GOODPUT_SLACK);
    let fast = match (base.ok_mean_ms, rows.ok_mean_ms(lo, hi)) {
        (Some(b), Some(l)) => l <= LATENCY_FACTOR * b,
        _ => true,
    };
    let starved = goodput.is_some_and(|g| g < 0.5 * base.goodput_share);
    if served && fast && !growing {
        Regime::Healthy
    } else if growing || (starved && !draining) {
        Regime::Overloaded
    } else if draining {
        Regime::Recovering
    } else {
        Regime::Degraded
    }
}

/// Runs of fewer than `min` rows (except the first) take the label of the run before
/// them; neighbours that end up alike merge. One pass over the runs.
fn absorb_short_runs(labels: &mut [Regime], min: usize) {
    let mut kept: Vec<(Regime, usize)> = Vec::new();
    let mut start = 0;
    while start < labels.len() {
        let r = labels[start];
        let len = labels[start..].iter().take_while(|&&l| l == r).count();
        match kept.last_mut() {
            Some(top) if len < min || top.0 == r => top.1 += len,
            _ => kept.push((r, len)),
        }
        start += len;
    }
    let mut i = 0;
    for (r, len) in kept {
        labels[i..i + len].fill(r);
        i += len;
    }
}

/// A change of regime within `half` rows before a timeline entry moves to the entry:
/// the centred window sees an entry's effect up to half a window early, and a change
/// does not come before its cause.
fn snap_to_marks(labels: &mut [Regime], mark_rows: &[usize], half: usize) {
    for &m in mark_rows {
        if m == 0 || m >= labels.len() {
            continue;
        }
        let from = m.saturating_sub(half);
        let before = labels[from.saturating_sub(1)];
        if labels[from..m].iter().any(|&l| l != before) {
            labels[from..m].fill(before);
        }
    }
}

/// In each unhealthy stretch that has an overload and ends healthy, the rows after
/// both the last overloaded one and the last timeline entry within the stretch are
/// recovering (goodput is back, latency settling); before the entry, the system was
/// degraded, not yet on its way back.
fn recovering_tails(labels: &mut [Regime], mark_rows: &[usize]) {
    let mut i = 0;
    while i < labels.len() {
        if labels[i] == Regime::Healthy {
            i += 1;
            continue;
        }
        let end = i + labels[i..]
            .iter()
            .take_while(|&&l| l != Regime::Healthy)
            .count();
        if end < labels.len() {
            if let Some(last) = (i..end).rev().find(|&j| labels[j] == Regime::Overloaded) {
                let entry = mark_rows
                    .iter()
                    .copied()
                    .filter(|&m| m > i && m < end)
                    .max();
                let from = entry.map_or(last + 1, |m| m.max(last + 1));
                for l in &mut labels[from..end] {
                    if *l == Regime::Degraded {
                        *l = Regime::Recovering;
                    }
                }
            }
        }
        i = end;
    }
}

/// Relabel as metastable the rows after a trigger's end that stayed unhealthy for
/// [`SETTLE`] with no fix; returns, per row, the mark it follows.
fn metastable(
    labels: &mut [Regime],
    marks: &[Mark],
    res: Nanos,
    duration: Nanos,
) -> Vec<Option<usize>> {
    let n = labels.len();
    let mut after = vec![None; n];
    for (k, m) in marks.iter().enumerate() {
        if m.role != Some(Role::TriggerEnd) {
            continue;
        }
        let deadline = m.at.saturating_add(SETTLE);
        if deadline > duration {
            continue; // the replay ends before it could tell
        }
        let fix = marks
            .iter()
            .filter(|f| f.role == Some(Role::Fix) && f.at > m.at)
            .map(|f| f.at)
            .min();
        if fix.is_some_and(|f| f <= deadline) {
            continue;
        }
        let (from, to) = (row_of(m.at, res, n), row_of(deadline, res, n));
        if from >= n || labels[from..to.min(n)].contains(&Regime::Healthy) {
            continue;
        }
        let stop = fix.map_or(n, |f| row_of(f, res, n));
        for i in from..stop {
            if labels[i] == Regime::Healthy {
                break;
            }
            labels[i] = Regime::Metastable;
            after[i] = Some(k);
        }
    }
    after
}

/// Consecutive rows of one label (and one mark) as spans, with their signals.
fn spans(
    rows: &Rows,
    labels: &[Regime],
    after: &[Option<usize>],
    res: Nanos,
    duration: Nanos,
) -> Vec<RegimeSpan> {
    let n = labels.len();
    let at = |i: usize| Nanos(res.0.saturating_mul(i as u64)).min(duration);
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let end = start
            + (start..n)
                .take_while(|&j| labels[j] == labels[start] && after[j] == after[start])
                .count();
        out.push(RegimeSpan {
            from: at(start),
            to: if end == n { duration } else { at(end) },
            regime: labels[start],
            goodput_share: rows.goodput(start, end),
            ok_mean_ms: rows.ok_mean_ms(start, end),
            peak_backlog: rows.peak_backlog(start, end),
            after_mark: after[start],
        });
        start = end;
    }
    out
}

/// How long after the entry at row `from` (instant `at`) the system was healthy for
/// `settle` rows in a row (or to the end): zero if it was healthy through them from
/// the entry on, None if it never was. A trigger's effect may come later than that
/// (a leak): after a trigger, it is the return after the first trouble, whenever it
/// came (zero if none came).
fn recovered_after(
    labels: &[Regime],
    from: usize,
    settle: usize,
    trigger: bool,
    res: Nanos,
    at: Nanos,
) -> Option<Nanos> {
    let n = labels.len();
    if from >= n {
        return None;
    }
    let steady = |i: usize| {
        labels[i..(i + settle).min(n)]
            .iter()
            .all(|&l| l == Regime::Healthy)
    };
    let untroubled = if trigger {
        labels[from..].iter().all(|&l| l == Regime::Healthy)
    } else {
        steady(from)
    };
    if untroubled {
        return Some(Nanos::ZERO);
    }
    // The first return to health after the first unhealthy row, that lasts.
    let sick = from
        + labels[from..]
            .iter()
            .take_while(|&&l| l == Regime::Healthy)
            .count();
    (sick..n)
        .filter(|&i| labels[i] == Regime::Healthy && labels[i - 1] != Regime::Healthy)
        .find(|&i| steady(i))
        .map(|i| Nanos(res.0.saturating_mul(i as u64)).saturating_sub(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Regime::*;

    #[test]
    fn short_runs_take_the_label_before_them() {
        let mut l = vec![
            Healthy, Healthy, Healthy, Degraded, Healthy, Healthy, Overloaded,
        ];
        absorb_short_runs(&mut l, 2);
        assert_eq!(l, vec![Healthy; 7]);
        let mut l = vec![
            Healthy, Healthy, Overloaded, Overloaded, Overloaded, Healthy,
        ];
        absorb_short_runs(&mut l, 2);
        assert_eq!(
            l,
            vec![Healthy, Healthy, Overloaded, Overloaded, Overloaded, Overloaded]
        );
    }

    #[test]
    fn the_degraded_tail_of_an_overload_that_ends_healthy_is_recovering() {
        let mut l = vec![Healthy, Overloaded, Degraded, Degraded, Healthy, Degraded];
        recovering_tails(&mut l, &[]);
        assert_eq!(
            l,
            vec![Healthy, Overloaded, Recovering, Recovering, Healthy, Degraded]
        );
        // Never healthy again: no recovery to label.
        let mut l = vec![Healthy, Overloaded, Degraded];
        recovering_tails(&mut l, &[]);
        assert_eq!(l, vec![Healthy, Overloaded, Degraded]);
        // A fix at row 3 inside the stretch: degraded until it, recovering after.
        let mut l = vec![Healthy, Overloaded, Degraded, Degraded, Degraded, Healthy];
        recovering_tails(&mut l, &[3]);
        assert_eq!(
            l,
            vec![Healthy, Overloaded, Degraded, Recovering, Recovering, Healthy]
        );
    }

    #[test]
    fn a_change_just_before_an_entry_moves_to_the_entry() {
        let mut l = vec![
            Healthy, Healthy, Healthy, Overloaded, Overloaded, Overloaded,
        ];
        snap_to_marks(&mut l, &[4], 2);
        assert_eq!(
            l,
            vec![Healthy, Healthy, Healthy, Healthy, Overloaded, Overloaded]
        );
        // A change further before the entry than half a window stays.
        let mut l = vec![Healthy, Overloaded, Overloaded, Overloaded, Overloaded];
        snap_to_marks(&mut l, &[4], 2);
        assert_eq!(
            l,
            vec![Healthy, Overloaded, Overloaded, Overloaded, Overloaded]
        );
    }

    #[test]
    fn recovery_is_the_first_lasting_return_to_health() {
        let s = Nanos::SECOND;
        let l = vec![
            Healthy, Healthy, Overloaded, Healthy, Degraded, Healthy, Healthy, Healthy,
        ];
        // Entry at row 0: unhealthy within 3 rows; back for 3 rows in a row at row 5.
        assert_eq!(
            recovered_after(&l, 0, 3, false, s, Nanos::ZERO),
            Some(Nanos::from_secs(5))
        );
        // Entry at row 5: healthy through the next 3 rows (to the end).
        assert_eq!(
            recovered_after(&l, 5, 3, false, s, Nanos::from_secs(5)),
            Some(Nanos::ZERO)
        );
        let l = vec![Healthy, Overloaded, Overloaded];
        assert_eq!(recovered_after(&l, 0, 2, false, s, Nanos::ZERO), None);
        // A trigger whose trouble comes after the settling time still counts it.
        let l = vec![Healthy, Healthy, Healthy, Overloaded, Healthy, Healthy];
        assert_eq!(
            recovered_after(&l, 0, 2, false, s, Nanos::ZERO),
            Some(Nanos::ZERO)
        );
        assert_eq!(
            recovered_after(&l, 0, 2, true, s, Nanos::ZERO),
            Some(Nanos::from_secs(4))
        );
    }
}
