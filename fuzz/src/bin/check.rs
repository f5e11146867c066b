//! `rewind check` of arbitrary bytes: a valid incident, or a located error.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = rewind_fuzz::targets::check(data);
    });
}
