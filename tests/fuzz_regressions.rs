//! Inputs the fuzzer found (FUZZING.md), each pinned to what it must now do: a
//! located error or a replay that runs, never a panic.
