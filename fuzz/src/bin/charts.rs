//! A short replay of what `check` accepts, with its charts and the HTML report.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Some(i) = rewind_fuzz::targets::short(data) {
            rewind_fuzz::targets::replay(&i.baseline, true);
        }
    });
}
