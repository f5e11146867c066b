//! `calibration.json`, `calibration.md` and the terminal table: renderers that return
//! text, the same bytes for the same inputs.

use serde_json::{json, Value};

use super::fit::{Fit, Unknown};
use super::onset::Onset;
use super::score::{Score, GRADES, LOSS_MAPE_CAP};
use super::Target;

/// What a fit searched, for the reports.
pub struct FitReport<'a> {
    /// The unknowns, in command-line order.
    pub unknowns: &'a [Unknown],
    /// What the search found.
    pub fit: &'a Fit,
    /// The seeds every candidate was replayed with.
    pub seeds: &'a [u64],
    /// The loss of the file's own values with the same seeds.
    pub loss_before: f64,
}

impl FitReport<'_> {
    /// Whether no candidate beat the file's own values (the search starts from the
    /// ranges, not from them): then the file's values are the ones scored.
    pub fn kept_file_values(&self) -> bool {
        self.loss_before < self.fit.best.loss
    }
}

/// One calibration, everything the reports say.
pub struct Calibration<'a> {
    /// The incident's title.
    pub title: &'a str,
    /// The incident file, as named on the command line.
    pub file: &'a str,
    /// The variant calibrated, if not the baseline.
    pub variant: Option<&'a str>,
    /// The seed of the replay scored.
    pub seed: u64,
    /// Row width, seconds.
    pub resolution_s: f64,
    /// Replayed time, seconds.
    pub duration_s: f64,
    /// The observed files, as named.
    pub observed: &'a [String],
    /// CSV gauges read at their row's start.
    pub gauges_at_start: bool,
    /// The mapped series on the replay's rows.
    pub targets: &'a [Target],
    /// Their scores, in the same order.
    pub scores: &'a [Score],
    /// The onsets dated in both.
    pub onsets: &'a [Onset],
    /// The loss of this replay (as a fit would count it).
    pub loss: f64,
    /// The fit, when unknowns were searched.
    pub fit: Option<FitReport<'a>>,
    /// The overlay charts written, one per mapping (empty with `--no-charts`).
    pub charts: &'a [String],
}

/// A number for JSON: null when not finite.
fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn opt(x: Option<f64>) -> Value {
    x.map_or(Value::Null, num)
}

/// The stated rules, for both reports.
const MAPE_RULE: &str = "MAPE is weighted (wMAPE): 100 x sum|replayed - observed| / sum|observed| over the rows where both have a value, so a row weighs by what was observed in it and zeros need no rule of their own; nothing observed and something replayed is undefined (poor)";
const R_RULE: &str = "r is Pearson's correlation over the same rows: undefined when both series are constant (the MAPE alone grades), 0 when only one is";
const BIAS_RULE: &str = "bias is the mean of replayed - observed, in the column's unit, and as a percentage of the mean observed magnitude";

fn loss_rule() -> String {
    format!(
        "loss = the mean over the mapped metrics of min(MAPE, {:.0}%) / 100 + (1 - r) (an undefined MAPE counts {:.0}%, an undefined r 0): 0 is a perfect match, 4 the worst",
        LOSS_MAPE_CAP * 100.0,
        LOSS_MAPE_CAP * 100.0
    )
}

fn grades_text() -> String {
    let parts: Vec<String> = GRADES
        .iter()
        .map(|(g, m, r)| format!("{} MAPE < {m:.0}% and r > {r:.2}", g.as_str()))
        .collect();
    format!("{}; else poor", parts.join("; "))
}

/// `calibration.json`.
pub fn calibration_json(c: &Calibration) -> String {
    let metrics: Vec<Value> = c
        .targets
        .iter()
        .zip(c.scores)
        .map(|(t, s)| {
            json!({
                "metric": t.mapping.metric,
                "column": t.mapping.column,
                "observed_file": t.source.0,
                "observed_series": t.source.1,
                "n": s.n,
                "outside_replay": t.outside,
                "mape": opt(s.mape),
                "r": opt(s.r),
                "bias": num(s.bias),
                "bias_percent": opt(s.bias_percent),
                "observed_mean": num(s.observed_mean),
                "replayed_mean": num(s.replayed_mean),
                "grade": s.grade.as_str(),
            })
        })
        .collect();
    let onsets: Vec<Value> = c
        .onsets
        .iter()
        .map(|o| {
            json!({
                "onset": o.what,
                "column": o.column,
                "observed_s": opt(o.observed_s),
                "replayed_s": opt(o.replayed_s),
                "error_s": opt(o.error_s()),
            })
        })
        .collect();
    let grades: Vec<Value> = GRADES
        .iter()
        .map(|(g, m, r)| json!({"grade": g.as_str(), "mape_below": m, "r_above": r}))
        .collect();
    let mut doc = json!({
        "title": c.title,
        "file": c.file,
        "variant": c.variant,
        "seed": c.seed,
        "resolution_s": c.resolution_s,
        "duration_s": c.duration_s,
        "observed": c.observed,
        "csv_gauges_read_at": if c.gauges_at_start { "start" } else { "end" },
        "metrics": metrics,
        "onsets": onsets,
        "grades": grades,
        "rules": {
            "mape": MAPE_RULE,
            "r": R_RULE,
            "bias": BIAS_RULE,
            "loss": loss_rule(),
        },
        "loss": num(c.loss),
        "charts": c.charts,
    });
    if let Some(f) = &c.fit {
        let value = |u: &Unknown, x: f64| -> Value {
            if u.unit.is_empty() {
                num(x)
            } else {
                json!(u.display(x))
            }
        };
        let unknowns: Vec<Value> = f
            .unknowns
            .iter()
            .zip(&f.fit.best.values)
            .map(|(u, x)| {
                json!({
                    "path": u.path,
                    "low": value(u, u.lo),
                    "high": value(u, u.hi),
                    "integral": u.integral,
                    "found": value(u, *x),
                })
            })
            .collect();
        let evaluations: Vec<Value> = f
            .fit
            .evaluations
            .iter()
            .map(|e| {
                let values: Vec<Value> = f
                    .unknowns
                    .iter()
                    .zip(&e.values)
                    .map(|(u, x)| value(u, *x))
                    .collect();
                json!({"values": values, "loss": num(e.loss)})
            })
            .collect();
        doc["fit"] = json!({
            "unknowns": unknowns,
            "loss": num(f.fit.best.loss),
            "loss_at_file_values": num(f.loss_before),
            "scored": if f.kept_file_values() { "file's own values" } else { "best candidate" },
            "seeds": f.seeds,
            "budget": f.fit.budget,
            "evaluations_used": f.fit.evaluations.len(),
            "hypercube": f.fit.hypercube,
            "method": "a Latin hypercube over the ranges (half the budget, in parallel), then Nelder-Mead from its best point; every candidate replayed with the same seeds",
            "evaluations": evaluations,
        });
    }
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

fn pct(x: Option<f64>) -> String {
    x.map_or("undefined".into(), |m| format!("{m:.1}%"))
}

fn r_text(x: Option<f64>) -> String {
    x.map_or("-".into(), |r| format!("{r:.3}"))
}

/// A figure with 3 significant digits and its sign.
fn signed(x: f64) -> String {
    let digits = if x.abs() >= 100.0 {
        0
    } else if x.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{x:+.digits$}")
}

fn bias_text(s: &Score) -> String {
    match s.bias_percent {
        Some(p) => format!("{} ({p:+.1}%)", signed(s.bias)),
        None => signed(s.bias),
    }
}

fn seconds(x: Option<f64>) -> String {
    x.map_or("never".into(), |s| format!("{s}s"))
}

fn onset_error(o: &Onset) -> String {
    match o.error_s() {
        Some(e) => format!("{e:+}s"),
        None if o.observed_s.is_none() && o.replayed_s.is_none() => "-".into(),
        None => "one only".into(),
    }
}

/// `calibration.md`: tables a postmortem author can paste, with the rules stated.
pub fn calibration_md(c: &Calibration) -> String {
    let mut md = format!("# Calibration: {}\n\n", c.title);
    md.push_str(&format!(
        "The replay of `{}`{} (seed {}) against `{}`, compared on the replay's rows of {}s.\n\n",
        c.file,
        c.variant
            .map_or(String::new(), |v| format!(", variant `{v}`")),
        c.seed,
        c.observed.join("`, `"),
        c.resolution_s
    ));
    md.push_str("| observed | column | points | MAPE | r | bias | grade |\n");
    md.push_str("|---|---|---:|---:|---:|---:|---|\n");
    for (t, s) in c.targets.iter().zip(c.scores) {
        md.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} | {} | {} |\n",
            t.mapping.metric,
            t.mapping.column,
            s.n,
            pct(s.mape),
            r_text(s.r),
            bias_text(s),
            s.grade.as_str()
        ));
    }
    md.push_str(&format!(
        "\nGrades: {}. {}. {}. {}.\n",
        grades_text(),
        MAPE_RULE,
        R_RULE,
        BIAS_RULE
    ));
    if !c.onsets.is_empty() {
        md.push_str("\n## Onsets\n\n");
        md.push_str("| moment | column | observed | replayed | error (replayed - observed) |\n");
        md.push_str("|---|---|---:|---:|---:|\n");
        for o in c.onsets {
            md.push_str(&format!(
                "| {} | `{}` | {} | {} | {} |\n",
                o.what,
                o.column,
                seconds(o.observed_s),
                seconds(o.replayed_s),
                onset_error(o)
            ));
        }
        md.push_str("\nAt the rows' resolution: each is the start of the first row that shows it (pool exhaustion: `in_use` at the pool's `max_open`; a 5xx: a count above zero; a crash: `replicas_up` lower, or `restarts` higher, than the row before).\n");
    }
    if let Some(f) = &c.fit {
        md.push_str("\n## Fit\n\n| unknown | range | found |\n|---|---|---:|\n");
        for (u, x) in f.unknowns.iter().zip(&f.fit.best.values) {
            md.push_str(&format!(
                "| `{}` | {}..{} | {} |\n",
                u.path,
                u.display(u.lo),
                u.display(u.hi),
                u.display(*x)
            ));
        }
        md.push_str(&format!(
            "\nLoss {:.4} (at the file's own values: {:.4}), after {} of {} evaluations (a Latin hypercube of {}, then Nelder-Mead), every candidate replayed with seed{} {}. The fit minimises the {}.\n",
            f.fit.best.loss,
            f.loss_before,
            f.fit.evaluations.len(),
            f.fit.budget,
            f.fit.hypercube,
            crate::human::plural_s(f.seeds.len() as u64),
            f.seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            loss_rule()
        ));
        if f.kept_file_values() {
            md.push_str("\nNo candidate scored better than the file's own values: the scores, onsets and charts above are those of the file's own values.\n");
        }
    }
    if !c.charts.is_empty() {
        md.push_str(
            "\n## Charts\n\nObserved (dashed) over replayed (solid), one chart per mapping:\n\n",
        );
        for name in c.charts {
            md.push_str(&format!("![{name}]({name})\n"));
        }
    }
    md
}

/// The terminal's short table.
pub fn terminal(c: &Calibration, out: &str) -> String {
    let mut rows = vec![[
        "observed".to_string(),
        "column".to_string(),
        "points".to_string(),
        "MAPE".to_string(),
        "r".to_string(),
        "bias".to_string(),
        "grade".to_string(),
    ]];
    for (t, s) in c.targets.iter().zip(c.scores) {
        rows.push([
            t.mapping.metric.clone(),
            t.mapping.column.clone(),
            s.n.to_string(),
            pct(s.mape),
            r_text(s.r),
            bias_text(s),
            s.grade.as_str().to_string(),
        ]);
    }
    let mut widths = [0usize; 7];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = format!(
        "{}: calibrated against {} (seed {})\n",
        c.title,
        c.observed.join(", "),
        c.seed
    );
    for r in &rows {
        let mut line = String::from(" ");
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            // Names left, figures right.
            if i < 2 || i == 6 {
                line.push_str(&format!(" {cell:<w$}"));
            } else {
                line.push_str(&format!(" {cell:>w$}"));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    for o in c.onsets {
        text.push_str(&format!(
            "  {}: observed {}, replayed {} ({})\n",
            o.what,
            seconds(o.observed_s),
            seconds(o.replayed_s),
            onset_error(o)
        ));
    }
    if let Some(f) = &c.fit {
        let found: Vec<String> = f
            .unknowns
            .iter()
            .zip(&f.fit.best.values)
            .map(|(u, x)| format!("{} = {}", u.path, u.display(*x)))
            .collect();
        text.push_str(&format!(
            "  fit: {} (loss {:.4}, {:.4} at the file's values; {} evaluations){}\n",
            found.join(", "),
            f.fit.best.loss,
            f.loss_before,
            f.fit.evaluations.len(),
            if f.kept_file_values() {
                "; no candidate beat the file's values, which are the ones scored"
            } else {
                ""
            }
        ));
    }
    text.push_str(&format!(
        "wrote {out}/: calibration.json, calibration.md, timeseries.csv{}\n",
        if c.charts.is_empty() {
            String::new()
        } else {
            format!(" and {} overlay charts", c.charts.len())
        }
    ));
    text
}
