//! A short replay (60 s simulated, 20 million events at most) of what `check`
//! accepts, every output rendered but the charts.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Some(i) = rewind_fuzz::targets::short(data) {
            rewind_fuzz::targets::replay(&i.baseline, false);
        }
    });
}
