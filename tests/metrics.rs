//! The time series: rows are the half-open intervals `[t, t + resolution)`.

use crate::util::replay;

#[test]
fn an_event_at_exactly_a_boundary_belongs_to_the_row_that_starts_there() {
    // Requests at exactly 1, 2, ..., 9 s, each answered exactly 1 s later.
    let r = replay(
        r#"
name: t
duration: 10s
resolution: 1s
clients:
  - name: users
    to: api
    rate: 1/s
    arrivals: constant
services:
  - name: api
    handler:
      steps:
        - work: {constant: 1s}
"#,
    );
    assert_eq!(r.series.rows(), 10);
    let sent = r.series.column_values("users.sent").expect("column");
    let ok = r.series.column_values("users.ok").expect("column");
    // Row t holds the request sent at t and the answer to the one sent at t - 1. The
    // request due at exactly 10 s, the end, belongs to a row the replay does not have.
    assert_eq!(sent, [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(ok, [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
}
