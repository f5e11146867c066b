//! `events.jsonl`: one JSON object per line, in time order.

use serde_json::{json, Value};

use super::seconds;
use crate::outcome::Occurrence;

fn record(o: &Occurrence) -> Value {
    let mut v = json!({
        "time_s": seconds(o.at),
        "kind": o.kind,
        "component": o.component,
        "detail": o.detail,
    });
    if let Some(s) = o.status {
        v["status"] = json!(s);
    }
    if let Some(r) = o.replica {
        v["replica"] = json!(r);
    }
    if let Some(l) = &o.label {
        v["label"] = json!(l);
    }
    v
}

/// The occurrences as JSON lines.
pub fn events_jsonl(occurrences: &[Occurrence]) -> String {
    let mut out = String::new();
    for o in occurrences {
        out.push_str(&record(o).to_string());
        out.push('\n');
    }
    out
}
