//! A PromQL expression of arbitrary bytes: checked, budgeted, evaluated.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = rewind_fuzz::targets::promql(data);
    });
}
