//! Structure-aware fuzzing of `check`, a short replay, the charts, rules files and
//! PromQL (FUZZING.md). Random bytes rarely get past the YAML reader, so inputs are
//! grown from real files: the bundled incidents and every inline incident of the tests,
//! with values pushed to extremes (0, 1, `u32::MAX`, 1 ns, 720 h, NaN), units swapped,
//! lines dropped, duplicated, moved between files, and fields inserted from the
//! incident format's own names.
//!
//! As a test it is the CI smoke: a fixed seed and a small number of cases. The long
//! run is the same test with `REWIND_FUZZ_SECONDS` (and `REWIND_FUZZ_SEED`): it keeps
//! going past a finding, writes each failing input to the target's temporary folder,
//! and checks the memory bound.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fuzz_targets as targets;

/// Incidents the smoke grows (about one in ten is valid and replayed): with the PromQL
/// and rules cases, well under a minute on two cores.
const SMOKE_CASES: u64 = 1000;

/// splitmix64: small, seedable, and the same on every platform, so a case number and
/// a seed name an input for good.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Values a field's value or a number in a line becomes: the edges of every type the
/// format reads (counts, rates, durations, percentages, booleans, text).
const EXTREMES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "0.0",
    "-0.5",
    "0.5",
    "1e-9",
    "1e308",
    "1e309",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    ".nan",
    ".inf",
    "-.inf",
    "NaN",
    "0s",
    "0ms",
    "1ns",
    "1us",
    "1ms",
    "999999h",
    "720h",
    "720h 1s",
    "30d",
    "0/s",
    "1/s",
    "1000000/s",
    "0.000001/s",
    "1/h",
    "100%",
    "0%",
    "101%",
    "1e-9%",
    "null",
    "~",
    "''",
    "[]",
    "{}",
    "[0]",
    "true",
    "false",
    "yes",
    "x",
    "\"\\u0000\"",
    "\"\\t\"",
    "-",
    "a b",
];

/// Numbers a digit run becomes.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "10",
    "1000",
    "100000",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "18446744073709551615",
    "99999999999999999999",
    "1e300",
    "0.000000001",
];

const UNITS: &[&str] = &[
    "ns", "us", "ms", "s", "m", "h", "d", "/s", "/m", "%", "Mi", "Gi", "Ki",
];

/// Where the tests live, and the incident format's field names (fuzz/yaml.dict).
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dictionary() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("fuzz/yaml.dict")).expect("fuzz/yaml.dict");
    text.lines()
        .filter_map(|l| l.strip_prefix("field_"))
        .filter_map(|l| l.split_once("=\"").map(|(name, _)| name.to_string()))
        .collect()
}

/// Raw string literals (`r#"..."#`) of the tests' sources that hold `marker`: their
/// inline incidents and rules files.
fn inline_texts(marker: &str) -> Vec<String> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs = vec![root().join("tests")];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(src) = std::fs::read_to_string(&f) else {
            continue;
        };
        let mut rest = src.as_str();
        while let Some(start) = rest.find("r#\"") {
            let body = &rest[start + 3..];
            let Some(end) = body.find("\"#") else { break };
            if body[..end].contains(marker) {
                out.push(body[..end].to_string());
            }
            rest = &body[end + 2..];
        }
    }
    out
}

/// The seed corpus of incident files: the bundled incidents, then the tests' inline ones.
pub fn incident_seeds() -> Vec<String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(root().join("incidents"))
        .expect("incidents/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    names.sort();
    let mut out: Vec<String> = names
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("a bundled incident"))
        .collect();
    out.extend(inline_texts("services:"));
    out
}

/// The seed corpus of PromQL: every `expr:` of the bundled incidents and the tests.
pub fn promql_seeds() -> Vec<String> {
    let mut out: Vec<String> = incident_seeds()
        .iter()
        .chain(inline_texts("expr:").iter())
        .flat_map(|t| {
            t.lines()
                .filter_map(|l| l.trim().strip_prefix("expr:"))
                .map(|e| e.trim().trim_matches(['\'', '"']).to_string())
                .collect::<Vec<_>>()
        })
        // Expressions folded over several lines are left out: their first line alone.
        .filter(|e| !e.is_empty() && (!e.contains('{') || e.contains('}')))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The seed corpus of rules files: the tests' own, and one more holding every PromQL
/// seed as an alert and a recording rule.
pub fn rules_seeds() -> Vec<String> {
    let mut out = inline_texts("groups:");
    let mut file = String::from("groups:\n  - name: seeds\n    interval: 15s\n    rules:\n");
    for (i, e) in promql_seeds().iter().enumerate() {
        let e = e.replace('\'', "''");
        file.push_str(&format!(
            "      - alert: Seed{i}\n        expr: '{e}'\n        for: 1m\n        labels: {{severity: page}}\n      - record: seed:{i}\n        expr: '{e}'\n"
        ));
    }
    out.push(file);
    out
}

/// Replace one digit run of `line`.
fn replace_number(rng: &mut Rng, line: &str) -> Option<String> {
    let starts: Vec<usize> = line
        .char_indices()
        .filter(|(i, c)| {
            c.is_ascii_digit() && !line[..*i].ends_with(|p: char| p.is_ascii_digit() || p == '.')
        })
        .map(|(i, _)| i)
        .collect();
    if starts.is_empty() {
        return None;
    }
    let s = *rng.pick(&starts);
    let len = line[s..]
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(line.len() - s);
    Some(format!(
        "{}{}{}",
        &line[..s],
        rng.pick(NUMBERS),
        &line[s + len..]
    ))
}

/// Grow one input from `base`: one to `most` structural mutations, each keeping the
/// file mostly YAML so that most inputs reach validation and many reach a replay.
pub fn mutate(
    rng: &mut Rng,
    base: &str,
    others: &[String],
    dict: &[String],
    most: usize,
) -> String {
    let mut lines: Vec<String> = base.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    for _ in 0..1 + rng.below(most) {
        let i = rng.below(lines.len());
        let line = lines[i].clone();
        match rng.below(10) {
            // A field's value to an extreme.
            0 | 1 => {
                if let Some(at) = line.find(": ") {
                    lines[i] = format!("{}: {}", &line[..at], rng.pick(EXTREMES));
                }
            }
            // A number to an extreme, in a block or inside a flow mapping.
            2 | 3 => {
                if let Some(l) = replace_number(rng, &line) {
                    lines[i] = l;
                }
            }
            // A unit swapped.
            4 => {
                for u in UNITS {
                    if let Some(at) = line.find(u) {
                        if at > 0 && line.as_bytes()[at - 1].is_ascii_digit() {
                            let to = rng.pick(UNITS);
                            lines[i] = format!("{}{to}{}", &line[..at], &line[at + u.len()..]);
                            break;
                        }
                    }
                }
            }
            5 => {
                lines.remove(i);
                if lines.is_empty() {
                    lines.push(String::new());
                }
            }
            6 => lines.insert(i, line),
            // A line of another file, at this line's indentation.
            7 => {
                let other = rng.pick(others);
                let theirs: Vec<&str> = other.lines().collect();
                if !theirs.is_empty() {
                    let indent = line.len() - line.trim_start().len();
                    let l = rng.pick(&theirs).trim_start();
                    lines.insert(i, format!("{}{l}", " ".repeat(indent)));
                }
            }
            // A field of the format, at this line's indentation.
            8 => {
                let indent = line.len() - line.trim_start().len();
                let dash = if line.trim_start().starts_with("- ") {
                    "  "
                } else {
                    ""
                };
                lines.insert(
                    i + 1,
                    format!(
                        "{}{dash}{}: {}",
                        " ".repeat(indent),
                        rng.pick(dict),
                        rng.pick(EXTREMES)
                    ),
                );
            }
            // A stray character of YAML's syntax.
            _ => {
                let c = *rng.pick(&[
                    '{', '}', '[', ']', ':', '-', ',', '&', '*', '!', '|', '>', '\'', '"', '#',
                    '%', '\t', ' ',
                ]);
                let at = line
                    .char_indices()
                    .map(|(i, _)| i)
                    .nth(rng.below(line.chars().count() + 1))
                    .unwrap_or(line.len());
                lines[i] = format!("{}{c}{}", &line[..at], &line[at..]);
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Grow one PromQL expression from `base`.
pub fn mutate_promql(rng: &mut Rng, base: &str, others: &[String]) -> String {
    const PIECES: &[&str] = &[
        "(",
        ")",
        "[5m]",
        "[0s]",
        "[1ms]",
        "[999999999y]",
        "[5m:1ms]",
        "[30d:1s]",
        " offset -1y",
        " offset 1y",
        " @ end()",
        " @ 1e20",
        " bool",
        " on() group_left ",
        " ignoring(job) ",
        " / 0",
        " % 0",
        " ^ 1e308",
        " atan2 ",
        " and ",
        " or ",
        " unless ",
        " > ",
        " == ",
        "{job=~\"(a+)+$\"}",
        "{job=~\"[\"}",
        "{job!~\"\"}",
        "{__name__=~\".*\"}",
        "{}",
        "-",
        "sum by (job) (",
        "topk(1e20, ",
        "quantile(NaN, ",
        "histogram_quantile(2, ",
        "label_replace(",
        ", \"a\", \"$1\", \"job\", \"(\")",
        "absent(",
        "time()",
        "vector(1)",
        "scalar(",
        "rate(",
        "increase(",
        "predict_linear(",
        ", -1e308)",
        "1e309",
        "0x10",
        "Inf",
        "-Inf",
        "NaN",
        "\"s\"",
        ",",
    ];
    let mut e = base.to_string();
    for _ in 0..1 + rng.below(3) {
        let at = e
            .char_indices()
            .map(|(i, _)| i)
            .nth(rng.below(e.chars().count() + 1))
            .unwrap_or(e.len());
        match rng.below(6) {
            0 | 1 => {
                let piece = *rng.pick::<&str>(PIECES);
                e.insert_str(at, piece);
            }
            2 => {
                if let Some(l) = replace_number(rng, &e) {
                    e = l;
                }
            }
            3 => {
                let n = 1 + rng.below(40);
                e = format!("{}{e}{}", "(".repeat(n), ")".repeat(n));
            }
            4 => {
                let other = rng.pick(others);
                let op = rng.pick(&[" + ", " / ", " and ", " > bool ", " * on(job) group_left "]);
                e = format!("{e}{op}{other}");
            }
            _ => {
                let end = (at + 1 + rng.below(8)).min(e.len());
                if e.is_char_boundary(end) {
                    e.replace_range(at..end, "");
                }
            }
        }
    }
    e
}

/// One case: runs its input through a target; true when the input got through (a
/// valid incident replayed).
type Case = Box<dyn FnOnce() -> bool>;

/// How a run goes: its seed, its case count or time limit, and whether it checks the
/// memory bound (only a run in a process of its own: the test binary's other tests
/// share the process's peak).
struct Plan {
    seed: u64,
    cases: u64,
    until: Option<Instant>,
    long: bool,
}

fn plan(smoke_cases: u64) -> Plan {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let seconds = env("REWIND_FUZZ_SECONDS");
    Plan {
        seed: env("REWIND_FUZZ_SEED").unwrap_or(20261130),
        cases: env("REWIND_FUZZ_CASES").unwrap_or(if seconds.is_some() {
            u64::MAX
        } else {
            smoke_cases
        }),
        until: seconds.map(|s| Instant::now() + Duration::from_secs(s)),
        long: seconds.is_some(),
    }
}

/// Run `case` for each case of the plan; a panic is recorded with its input (written
/// under the target's temporary folder) and, in a long run, the run goes on. A case
/// that runs [`targets::HANG`] past its start aborts the process, naming its input.
fn campaign(kind: &str, smoke_cases: u64, mut case: impl FnMut(&mut Rng) -> (String, Case)) {
    let plan = plan(smoke_cases);
    let findings_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-findings");
    let started = Instant::now();
    let watch = Arc::new((AtomicU64::new(u64::MAX), Mutex::new(String::new())));
    let dog = Arc::clone(&watch);
    let dog_dir = findings_dir.clone();
    let kind_name = kind.to_string();
    let stop = Arc::new(AtomicU64::new(0));
    let dog_stop = Arc::clone(&stop);
    let watchdog = std::thread::spawn(move || {
        while dog_stop.load(Ordering::Relaxed) == 0 {
            std::thread::sleep(Duration::from_millis(200));
            let since = dog.0.load(Ordering::Relaxed);
            let now = started.elapsed().as_millis() as u64;
            let limit = targets::ESTIMATE_BOUND + targets::HANG;
            if since != u64::MAX && now.saturating_sub(since) > limit.as_millis() as u64 {
                let input = dog.1.lock().map(|s| s.clone()).unwrap_or_default();
                let _ = std::fs::create_dir_all(&dog_dir);
                let path = dog_dir.join(format!("{kind_name}-hang.txt"));
                let _ = std::fs::write(&path, input);
                eprintln!(
                    "fuzz {kind_name}: a case ran over {limit:?}; its input is {}",
                    path.display()
                );
                std::process::abort();
            }
        }
    });
    let (mut ran, mut passed) = (0u64, 0u64);
    let mut findings: Vec<String> = Vec::new();
    for n in 0..plan.cases {
        if plan.until.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        let mut rng = Rng::new(plan.seed ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let (input, run) = case(&mut rng);
        if let Ok(mut s) = watch.1.lock() {
            s.clone_from(&input);
        }
        watch
            .0
            .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        let outcome = catch_unwind(AssertUnwindSafe(run));
        watch.0.store(u64::MAX, Ordering::Relaxed);
        ran += 1;
        match outcome {
            Ok(true) => passed += 1,
            Ok(false) => {}
            Err(p) => {
                let what = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let _ = std::fs::create_dir_all(&findings_dir);
                let path = findings_dir.join(format!("{kind}-{}-{n}.txt", plan.seed));
                let _ = std::fs::write(&path, &input);
                findings.push(format!(
                    "case {n} (seed {}): {what}\n  input: {}",
                    plan.seed,
                    path.display()
                ));
                if !plan.long {
                    break;
                }
            }
        }
        if plan.long {
            if let Some(peak) = targets::peak_rss_bytes() {
                assert!(
                    peak <= targets::MEMORY_BOUND_BYTES,
                    "case {n}: peak memory {peak} bytes, over the bound; input:\n{input}"
                );
            }
        }
    }
    stop.store(1, Ordering::Relaxed);
    let _ = watchdog.join();
    eprintln!(
        "fuzz {kind}: {ran} cases in {:.1?} (seed {}), {passed} got through, {} findings, peak memory {} MiB",
        started.elapsed(),
        plan.seed,
        findings.len(),
        targets::peak_rss_bytes().unwrap_or(0) >> 20
    );
    assert!(findings.is_empty(), "fuzz {kind}:\n{}", findings.join("\n"));
}

#[test]
fn generated_incidents_check_replay_and_render_without_a_panic() {
    let seeds = incident_seeds();
    let dict = dictionary();
    campaign("incident", SMOKE_CASES, |rng| {
        let base = rng.pick(&seeds).clone();
        let input = mutate(rng, &base, &seeds, &dict, 4);
        // One replay in eight draws its charts: they cost more than the replay.
        let charts = rng.chance(8);
        let variant = rng.next() as usize;
        let text = input.clone();
        (
            input,
            Box::new(move || {
                if targets::check(text.as_bytes()).is_none() {
                    return false;
                }
                let Some(short) = targets::short(text.as_bytes()) else {
                    return false;
                };
                let scenario = match short.variants.len() {
                    0 => &short.baseline,
                    n => match variant % (n + 1) {
                        0 => &short.baseline,
                        i => &short.variants[i - 1].scenario,
                    },
                };
                let wall = targets::replay(scenario, charts);
                assert!(
                    wall <= targets::ESTIMATE_BOUND + targets::HANG,
                    "a replay of {} took {wall:?}",
                    scenario.duration
                );
                true
            }),
        )
    });
}

#[test]
fn mutated_promql_is_checked_and_evaluated_without_a_panic() {
    let seeds = promql_seeds();
    assert!(seeds.len() > 5, "PromQL seeds: {seeds:?}");
    campaign("promql", 15_000, |rng| {
        let base = rng.pick(&seeds).clone();
        let input = mutate_promql(rng, &base, &seeds);
        let text = input.clone();
        (input, Box::new(move || targets::promql(text.as_bytes())))
    });
}

#[test]
fn mutated_rules_files_are_parsed_without_a_panic() {
    let seeds = rules_seeds();
    assert!(seeds.len() > 1, "no rules file among the tests");
    let dict = dictionary();
    campaign("rules", 3_000, |rng| {
        let base = rng.pick(&seeds).clone();
        let input = mutate(rng, &base, &seeds, &dict, 4);
        let text = input.clone();
        (input, Box::new(move || targets::rules(text.as_bytes())))
    });
}

/// With `REWIND_FUZZ_SEEDS_OUT=DIR`, write the seed corpora for AFL++ (FUZZING.md):
/// `DIR/incidents/`, `DIR/rules/`, `DIR/promql/`, one input a file.
#[test]
fn seed_corpora_for_afl() {
    let Some(dir) = std::env::var_os("REWIND_FUZZ_SEEDS_OUT") else {
        return;
    };
    let dir = PathBuf::from(dir);
    for (kind, seeds) in [
        ("incidents", incident_seeds()),
        ("rules", rules_seeds()),
        ("promql", promql_seeds()),
    ] {
        let d = dir.join(kind);
        std::fs::create_dir_all(&d).expect("a seed folder");
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(d.join(format!("{i:03}")), s).expect("a seed");
        }
    }
}

/// Generated incidents through the real `rewind replay`: a valid one (cut to 60 s)
/// writes its whole folder and leaves nothing beside it, an invalid one exits 2 with
/// `fuzz.yaml:LINE:COL:` (or the file's name alone) and writes nothing.
#[test]
fn generated_incidents_through_the_cli_write_all_or_nothing() {
    let seeds = incident_seeds();
    let dict = dictionary();
    let cases = std::env::var("REWIND_FUZZ_CLI_CASES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(16);
    let (mut valid, mut invalid) = (0, 0);
    for n in 0..cases {
        let mut rng = Rng::new(20261130 ^ n.wrapping_mul(0x9e37_79b9));
        let base = rng.pick(&seeds).clone();
        let input = mutate(&mut rng, &base, &seeds, &dict, 1);
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join(targets::FILE), &input).expect("write");
        let out = assert_cmd::Command::cargo_bin("rewind")
            .expect("binary")
            .current_dir(tmp.path())
            .args([
                "replay",
                "-q",
                "--duration",
                "60s",
                "--max-events",
                "20000000",
            ])
            .args(["--out", "o", targets::FILE])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut names: Vec<String> = std::fs::read_dir(tmp.path())
            .expect("the folder")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        match out.status.code() {
            Some(0) => {
                valid += 1;
                assert_eq!(names, [targets::FILE, "o"], "case {n}: {input}");
                for f in [
                    ".rewind-output",
                    "timeseries.csv",
                    "events.jsonl",
                    "summary.json",
                    "metrics.om",
                    "report.md",
                    "report.html",
                    "overview.png",
                ] {
                    assert!(tmp.path().join("o").join(f).is_file(), "case {n}: no {f}");
                }
            }
            Some(2) => {
                invalid += 1;
                assert_eq!(names, [targets::FILE], "case {n}: {stderr}");
                assert!(
                    stderr.starts_with(&format!("error: {}:", targets::FILE)),
                    "case {n}: {stderr}\n{input}"
                );
            }
            code => panic!("case {n}: exit {code:?}\n{stderr}\n{input}"),
        }
    }
    eprintln!("fuzz cli: {cases} cases, {valid} valid, {invalid} refused");
}
