//! A Prometheus rules file (`--alerts-file`) of arbitrary bytes.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = rewind_fuzz::targets::rules(data);
    });
}
