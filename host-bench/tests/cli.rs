//! host-bench as users run it: the built binary, small heaps, real files.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// The documented report format, the same text `--help` prints.
const SCHEMA: &str = include_str!("../src/schema.txt");

/// Flags that keep a run to a fraction of a second.
const SMALL: [&str; 6] = ["--objects", "1000", "--shape", "random,list", "--reps", "2"];

/// Runs host-bench in `dir` (so its default output folder lands there).
/// Runs host-bench in `dir`. Stop-the-world runs that name no backend get
/// the three CPU ones, so run counts do not depend on which GPU adapters the
/// machine has (lavapipe in CI); the default suite is left as it is.
fn bench_in(dir: &Path, args: &[&str]) -> Output {
    let picks_own = args.is_empty()
        || args
            .iter()
            .any(|a| ["--backend", "--mutators", "--cycles", "--against"].contains(a));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_host-bench"));
    if !picks_own {
        cmd.args(["--backend", "cpu-serial,cpu,bfs"]);
    }
    cmd.args(args)
        .current_dir(dir)
        .output()
        .expect("host-bench runs")
}

fn bench(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    bench_in(dir.path(), args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts the run failed with status 2 and `needle` in its message.
fn fails_with(args: &[&str], needle: &str) {
    let o = bench(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    assert!(
        stderr(&o).contains(needle),
        "{args:?}: expected {needle:?} in:\n{}",
        stderr(&o)
    );
}

/// The field names the schema documents for records of `mode` ("stw" or
/// "concurrent"), with those of every record ("machine.cores",
/// "cycles.mark_s" for nested ones).
fn documented_fields(mode: &str) -> Vec<&'static str> {
    let mut section = "";
    let mut fields = Vec::new();
    for l in SCHEMA.lines() {
        if l.starts_with("Fields of every record") {
            section = "every";
        } else if l.starts_with("Stop-the-world records") {
            section = "stw";
        } else if l.starts_with("Concurrent records") {
            section = "concurrent";
        } else if l.starts_with("A field marked") {
            section = "";
        }
        let Some(l) = l.strip_prefix("  ").filter(|l| !l.starts_with(' ')) else {
            continue;
        };
        let Some(name) = l.split_whitespace().next() else {
            continue;
        };
        let is_name = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.' || c.is_ascii_digit());
        if is_name && (section == "every" || section == mode) {
            fields.push(name);
        }
    }
    fields
}

/// Asserts every documented field is in `r` (nested ones in `r[a][b]`, or in
/// each element when `r[a]` is an array, unless `r[a]` is null), and every
/// field in `r` is documented.
fn assert_fields_match(r: &Value, fields: &[&str]) {
    for f in fields {
        match f.split_once('.') {
            Some((a, _)) if r.get(a) == Some(&Value::Null) => {}
            Some((a, b)) => match &r[a] {
                Value::Array(items) => {
                    for (i, it) in items.iter().enumerate() {
                        assert!(it.get(b).is_some(), "field {f} missing from {a}[{i}]: {it}");
                    }
                }
                o => assert!(o.get(b).is_some(), "field {f} missing from {r}"),
            },
            None => assert!(r.get(*f).is_some(), "field {f} missing from {r}"),
        }
    }
    for (k, v) in r.as_object().unwrap() {
        assert!(fields.contains(&k.as_str()), "{k} is not documented");
        let nested: Vec<&serde_json::Map<String, Value>> = match v {
            Value::Object(m) => vec![m],
            Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
            _ => vec![],
        };
        for m in nested {
            for mk in m.keys() {
                let name = format!("{k}.{mk}");
                assert!(fields.contains(&name.as_str()), "{name} is not documented");
            }
        }
    }
}

fn read_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("report written");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn unknown_backend_lists_the_available_ones() {
    fails_with(
        &["--backend", "cuda"],
        "unknown backend `cuda`; available: cpu-serial, cpu, bfs",
    );
}

#[test]
fn gpu_backend_says_why_it_is_missing() {
    if cfg!(feature = "gpu") {
        // Built with GPU support: an API with no adapter says so (Linux has
        // neither Metal nor Direct3D 12).
        for name in ["metal", "dx12"] {
            fails_with(
                &["--backend", name, "--objects", "100", "--no-out"],
                &format!("backend {name} is not available: no {name} adapter was found"),
            );
        }
        return;
    }
    for name in ["gpu", "vulkan", "metal", "dx12", "gl"] {
        fails_with(
            &["--backend", name, "--objects", "100", "--no-out"],
            &format!(
                "backend {name} is not available: this build has no GPU support (feature `gpu`)"
            ),
        );
    }
}

#[test]
fn gpu_run_reports_its_kernel_and_level_profile() {
    if !cfg!(feature = "gpu") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let o = bench_in(
        dir.path(),
        &[
            "--backend",
            "vulkan",
            "--offload",
            "always",
            "--scan-kernel",
            "workgroup",
            "--trace-levels",
            "--shape",
            "random",
            "--objects",
            "3000",
            "--threads",
            "1",
            "--reps",
            "1",
            "--json",
            "r.json",
            "--no-out",
        ],
    );
    if !o.status.success()
        && std::env::var_os("CI").is_none()
        && stderr(&o).contains("no vulkan adapter was found")
    {
        return; // no Vulkan driver here; CI installs lavapipe
    }
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("GPU time by level width: vulkan on random 3000, 1 threads"));
    let json = std::fs::read_to_string(dir.path().join("r.json")).expect("the report");
    let r: Value = serde_json::from_str(json.lines().next().expect("a record")).unwrap();
    let gpu = &r["gpu"];
    assert_eq!(gpu["kernel"], "scan_workgroup");
    assert_eq!(gpu["gpu_scan_fraction"], 1.0);
    // The preparation is timed on its own, outside the mark time; the
    // mark's own uploads (the roots' mark bits and grey items) are counted.
    assert!(gpu["prepare_s"].as_f64().unwrap() > 0.0, "{gpu}");
    assert!(gpu["upload_bytes"].as_u64().unwrap() > 0, "{gpu}");
    // Without --count-ops the kernels count nothing.
    assert!(
        gpu["ops"].is_null() && gpu["ops_per_1024_edges"].is_null(),
        "{gpu}"
    );
    assert!(!stdout(&o).contains("GPU operations:"), "{}", stdout(&o));
    let buckets = gpu["level_profile"].as_array().expect("a level profile");
    let sum = |k: &str| buckets.iter().map(|b| b[k].as_u64().unwrap()).sum::<u64>();
    // Every marked object of a random heap has slots, and with `always` the
    // GPU scanned each once; one worker pushed every root grey at once, so
    // one batch ran all the levels.
    assert_eq!(sum("items"), r["marked"].as_u64().unwrap());
    assert_eq!(sum("levels"), gpu["levels"].as_u64().unwrap());
    for b in buckets {
        let (lo, hi) = (
            b["min_items"].as_u64().unwrap(),
            b["max_items"].as_u64().unwrap(),
        );
        let (levels, items) = (b["levels"].as_u64().unwrap(), b["items"].as_u64().unwrap());
        assert!(levels * lo <= items && items <= levels * hi, "{b}");
        assert!(b["gpu_s"].as_f64().unwrap() > 0.0, "{b}");
    }
}

/// The fields of `gpu.ops` the schema documents (`gpu.ops.ctl_atomics`
/// and the like), without the prefix.
fn documented_op_fields() -> Vec<&'static str> {
    documented_fields("stw")
        .into_iter()
        .filter_map(|f| f.strip_prefix("gpu.ops."))
        .collect()
}

/// Asserts `gpu` (a GPU record's `gpu` object) has every documented
/// `gpu.ops` field as an integer and no other, the per-edge costs of
/// `ops_per_1024_edges` as floats made from them, and (the kernels
/// counting) edges followed; returns `gpu.ops`.
fn assert_counted(gpu: &Value) -> &serde_json::Map<String, Value> {
    let ops = gpu["ops"]
        .as_object()
        .unwrap_or_else(|| panic!("no ops: {gpu}"));
    let fields = documented_op_fields();
    assert_eq!(fields.len(), 13, "{fields:?}");
    let mut keys: Vec<&str> = ops.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = fields.clone();
    want.sort_unstable();
    assert_eq!(keys, want, "gpu.ops against the schema");
    for (k, v) in ops {
        assert!(v.is_u64(), "gpu.ops.{k} is no integer: {v}");
    }
    let n = |k: &str| ops[k].as_u64().unwrap();
    assert!(n("edges") > 0, "the kernels followed no edge: {gpu}");
    assert!(n("slot_loads") >= n("edges"), "{gpu}");
    assert!(n("levels") > 0 && n("max_workgroup_slots") > 0, "{gpu}");
    let per = gpu["ops_per_1024_edges"]
        .as_object()
        .unwrap_or_else(|| panic!("no ops_per_1024_edges: {gpu}"));
    let totals_only = ["levels", "empty_levels", "max_workgroup_slots", "edges"];
    assert_eq!(per.len(), fields.len() - totals_only.len(), "{gpu}");
    for (k, v) in per {
        assert!(!totals_only.contains(&k.as_str()), "{k} has no rate");
        let want = n(k) as f64 * 1024.0 / n("edges") as f64;
        let got = v.as_f64().unwrap_or_else(|| panic!("{k}: {v}"));
        assert!(
            (got - want).abs() <= 1e-9 * want.max(1.0),
            "{k}: {got} != {want}"
        );
    }
    ops
}

#[test]
fn gpu_run_counts_its_operations_with_count_ops() {
    if !cfg!(feature = "gpu") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let o = bench_in(
        dir.path(),
        &[
            "--backend",
            "vulkan",
            "--offload",
            "always",
            "--count-ops",
            "--shape",
            "random",
            "--objects",
            "3000",
            "--threads",
            "1",
            "--reps",
            "2",
            "--json",
            "r.json",
            "--no-out",
        ],
    );
    if no_vulkan_here(&o) {
        return; // no Vulkan driver here; CI installs lavapipe
    }
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    let at = s
        .find("GPU operations: vulkan on random 3000, 1 threads (last timed mark;")
        .unwrap_or_else(|| panic!("no operations table in:\n{s}"));
    let block: Vec<&str> = s[at..].lines().skip(1).take(13).collect();
    assert!(block[0].starts_with("operation "), "{s}");
    for (line, name) in block[1..].iter().zip(documented_op_fields()) {
        assert!(line.starts_with(&format!("{name} ")), "{name}: {line}");
    }
    let json = std::fs::read_to_string(dir.path().join("r.json")).expect("the report");
    let r: Value = serde_json::from_str(json.lines().next().expect("a record")).unwrap();
    let gpu = &r["gpu"];
    assert_eq!(gpu["gpu_scan_fraction"], 1.0, "{gpu}");
    let ops = assert_counted(gpu);
    // With `always` every marked object was scanned on the GPU, once: its
    // non-nil slots are at most the heap's.
    assert!(ops["edges"].as_u64() <= r["edges"].as_u64(), "{r}");
    assert!(ops["levels"].as_u64() >= gpu["levels"].as_u64(), "{gpu}");
}

#[test]
fn count_ops_without_a_gpu_backend_warns() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let o = bench_in(
        dir.path(),
        &[
            "--backend",
            "cpu",
            "--count-ops",
            "--objects",
            "1000",
            "--shape",
            "random",
            "--reps",
            "1",
            "--no-out",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("host-bench: warn: --count-ops counts the GPU kernels' operations"),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&o).contains("GPU operations:"));
    assert!(read_lines(&json)[0]["gpu"].is_null());
}

#[test]
fn bad_values_are_rejected_clearly() {
    fails_with(&["--shape", "blob"], "invalid value 'blob' for '--shape");
    fails_with(&["--shape", "blob"], "random, list, tree, wide, powerlaw");
    fails_with(&["--objects", "0"], "a heap needs at least 1 object");
    fails_with(
        &["--objects", "12x"],
        "`12x` is not a whole number of objects",
    );
    fails_with(&["--objects", "9000000000"], "32-bit object indices");
    fails_with(
        &["--reps", "many"],
        "`many` is not a whole number of repetitions",
    );
    fails_with(&["--reps", "0"], "at least 1 timed repetition");
    fails_with(&["--threads", "0"], "at least 1 thread is needed");
    fails_with(&["--seed=-1"], "invalid value '-1' for '--seed");
    fails_with(&["--frobnicate"], "unexpected argument '--frobnicate'");
    fails_with(
        &["--heap", "x.img", "--shape", "list"],
        "cannot be used with",
    );
}

#[test]
fn too_large_heaps_name_the_sizes() {
    fails_with(
        &["--objects", "2000000000", "--shape", "random", "--no-out"],
        "heap too large: random, 2000000000 objects × 4 ptrs, seed 42 needs about 8000000000 pointer slots",
    );
}

#[test]
fn save_needs_exactly_one_heap() {
    fails_with(
        &[
            "--objects",
            "100,200",
            "--shape",
            "list",
            "--save",
            "h.img",
            "--no-out",
        ],
        "--save writes one heap, but this invocation builds 2",
    );
}

#[test]
fn json_carries_every_documented_field() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut args = SMALL.to_vec();
    args.extend(["--no-out", "--json", json.to_str().unwrap()]);
    let o = bench_in(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let runs = read_lines(&json);
    // 2 shapes × 3 CPU backends.
    assert_eq!(runs.len(), 6);
    let fields = documented_fields("stw");
    assert!(fields.len() > 30, "schema parsed to {fields:?}");
    for r in &runs {
        assert_fields_match(r, &fields);
        assert_eq!(r["schema"], 8);
        assert_eq!(r["mode"], "stw");
        assert!(r["adapter"].is_null(), "CPU backends have no adapter");
        assert!(r["upload_s"].is_null() && r["batches"].is_null());
        assert_eq!(r["verified"], true);
        assert_eq!(r["objects"], 1000);
        assert_eq!(r["mark_times_s"].as_array().map(Vec::len), Some(2));
        let (min, med, max) = (
            r["mark_s"].as_f64().unwrap(),
            r["mark_median_s"].as_f64().unwrap(),
            r["mark_max_s"].as_f64().unwrap(),
        );
        assert!(min <= med && med <= max, "{min} {med} {max}");
        assert!(r["machine"]["cores"].as_u64().unwrap() >= 1);
        assert!(r["ratio_to_bfs"].as_f64().unwrap() > 0.0);
        assert!(r["import"].is_null(), "built heaps have no import");
    }
    let bfs: Vec<&Value> = runs.iter().filter(|r| r["backend"] == "bfs").collect();
    assert_eq!(bfs.len(), 2);
    assert!(bfs.iter().all(|r| r["ratio_to_bfs"] == 1.0));
}

/// A concurrent run small enough for a debug build: 2 mutators over a
/// 20000-object starting heap (about 1 MiB, so every cycle runs to the
/// 4 MiB heap minimum), for `cycles` cycles.
fn concurrent(cycles: &'static str) -> Vec<&'static str> {
    vec!["--mutators", "2", "--objects", "20000", "--cycles", cycles]
}

#[test]
fn concurrent_run_prints_trace_lines_and_json_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("c.json");
    let mut args = concurrent("3");
    args.extend(["--no-out", "--json", json.to_str().unwrap()]);
    let o = bench_in(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    for c in 1..=3 {
        let prefix = format!("gc {c} @");
        let line = s.lines().find(|l| l.starts_with(&prefix));
        let line = line.unwrap_or_else(|| panic!("no `{prefix}` line in:\n{s}"));
        assert!(line.ends_with(", verified"), "{line}");
    }
    assert!(!s.contains("gc 4 @"), "only the cycles asked for: {s}");
    assert!(s.contains("concurrent: random, 20000 objects × 4 ptrs, seed 42; 2 mutators"));
    let header = s
        .lines()
        .find(|l| l.starts_with("backend "))
        .expect("summary row");
    for col in [
        "shape",
        "gpu scan",
        "cycles",
        "goal ratio med/max",
        "util med",
        "assists",
        "park us p50/p99/max",
        "arena use",
    ] {
        assert!(header.contains(col), "no {col} column in {header}");
    }
    assert!(
        s.lines()
            .any(|l| l.starts_with("cpu ") && l.contains(" random ") && l.ends_with("yes")),
        "{s}"
    );
    // No STW table and no note about GPU backends in this mode.
    assert!(!s.contains("M edges/s") && !s.contains("not run:"), "{s}");

    let runs = read_lines(&json);
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    let fields = documented_fields("concurrent");
    assert!(fields.contains(&"cycles.park_p99_s"), "{fields:?}");
    assert_fields_match(r, &fields);
    assert_eq!(r["schema"], 8);
    assert_eq!(r["mode"], "concurrent");
    assert_eq!(r["backend"], "cpu");
    assert!(r["adapter"].is_null() && r["gpu"].is_null(), "{r}");
    assert_eq!(r["mutators"], 2);
    assert_eq!(r["cycles_requested"], 3);
    assert_eq!(r["stop_reason"], "cycles");
    assert!(r["heap_full"].is_null());
    assert_eq!(r["gogc"], 100);
    assert!(r["memory_limit"].is_null());
    assert_eq!(r["verified"], true);
    assert_eq!(r["objects"], 20000);
    assert!(r["mutator_ops"].as_u64().unwrap() > 0);
    assert!(r["allocated_objects"].as_u64().unwrap() > 20000);
    assert!(r["allocated_objects"].as_u64() <= r["arena_objects"].as_u64());
    let cycles = r["cycles"].as_array().unwrap();
    assert_eq!(cycles.len(), 3);
    for (i, c) in cycles.iter().enumerate() {
        assert_eq!(c["cycle"], i as u64 + 1);
        assert_eq!(c["verified"], true);
        assert!(
            c["heap_goal"].as_u64().unwrap() >= 4 << 20,
            "heap minimum: {c}"
        );
        assert!(c["marked"].as_u64().unwrap() > 0);
        let ratio = c["heap_peak"].as_f64().unwrap() / c["heap_goal"].as_f64().unwrap();
        assert!((c["goal_ratio"].as_f64().unwrap() - ratio).abs() < 1e-9);
    }
    let max = cycles
        .iter()
        .map(|c| c["goal_ratio"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(r["goal_ratio_max"].as_f64(), Some(max));
}

/// Concurrent cycles scanning on the GPU: the collector's drains and
/// assists go through gpumark's GpuScan, and the record says what it did.
#[test]
fn concurrent_run_scans_on_a_gpu_backend() {
    if !cfg!(feature = "gpu") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("c.json");
    let mut args = concurrent("2");
    args.extend(["--backend", "vulkan", "--offload", "always", "--no-out"]);
    args.extend(["--json", json.to_str().unwrap()]);
    let o = bench_in(dir.path(), &args);
    if !o.status.success()
        && std::env::var_os("CI").is_none()
        && stderr(&o).contains("no vulkan adapter was found")
    {
        return; // no Vulkan driver here; CI installs lavapipe
    }
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.contains("; scanning on vulkan ("), "{s}");
    assert!(
        s.lines()
            .any(|l| l.starts_with("vulkan ") && l.contains(" 100.0% ") && l.ends_with("yes")),
        "{s}"
    );
    let runs = read_lines(&json);
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    let fields = documented_fields("concurrent");
    for k in r.as_object().unwrap().keys() {
        assert!(fields.contains(&k.as_str()), "{k} is not documented");
    }
    assert_eq!(r["backend"], "vulkan");
    assert_eq!(r["verified"], true);
    assert!(r["adapter"]["name"].is_string(), "{r}");
    let gpu = &r["gpu"];
    assert_eq!(gpu["offload"], "always");
    // Every heap scan of every cycle ran on the GPU, in batches.
    assert_eq!(gpu["gpu_scan_fraction"], 1.0, "{gpu}");
    assert!(gpu["batches"].as_u64().unwrap() >= 2, "{gpu}");
    // The heap's first upload, before the mutators started.
    assert!(gpu["prepare_s"].as_f64().unwrap() > 0.0, "{gpu}");
    assert!(gpu["upload_bytes"].as_u64().unwrap() > 0, "{gpu}");
    assert!(
        gpu["ops"].is_null(),
        "not counted without --count-ops: {gpu}"
    );
}

/// `--count-ops` in concurrent mode: the counts are summed over the run.
#[test]
fn concurrent_run_counts_gpu_operations_over_the_run() {
    if !cfg!(feature = "gpu") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("c.json");
    let mut args = concurrent("2");
    args.extend(["--backend", "vulkan", "--offload", "always", "--count-ops"]);
    args.extend(["--no-out", "--json", json.to_str().unwrap()]);
    let o = bench_in(dir.path(), &args);
    if no_vulkan_here(&o) {
        return; // no Vulkan driver here; CI installs lavapipe
    }
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(
        s.contains(
            "GPU operations: vulkan, concurrent run on random 20000, 2 mutators, GOMAXPROCS "
        ),
        "{s}"
    );
    let r = &read_lines(&json)[0];
    assert_eq!(r["verified"], true);
    let ops = assert_counted(&r["gpu"]);
    // Every cycle's batches: more levels than the run's last batch ran.
    assert!(ops["levels"].as_u64() >= r["gpu"]["levels"].as_u64(), "{r}");
}

#[test]
fn concurrent_out_dir_gets_a_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // An earlier stop-the-world invocation leaves its files.
    let o = bench_in(
        dir.path(),
        &[
            "--objects",
            "300",
            "--shape",
            "tree",
            "--reps",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("runs.csv").exists() && out.join("throughput.svg").exists());
    let mut args = concurrent("2");
    args.extend(["--out", out.to_str().unwrap()]);
    let o = bench_in(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&format!("{}", out.join("timeline.svg").display())));
    let svg = std::fs::read_to_string(out.join("timeline.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.len() > 2000);
    for label in [
        "heap live",
        "heap peak",
        "heap goal",
        "trigger",
        "assist park",
        "swept objects",
        "arena occupancy",
        "arena capacity",
        "2 mutators",
    ] {
        assert!(svg.contains(label), "timeline lacks {label}");
    }
    let report = read_lines(&out.join("report.json"));
    assert_eq!(report.len(), 1);
    assert_eq!(report[0]["cycles"].as_array().map(Vec::len), Some(2));
    // The stop-the-world files described other runs: gone.
    assert!(!out.join("runs.csv").exists() && !out.join("throughput.svg").exists());
}

#[test]
fn concurrent_run_stops_when_an_allocation_finds_the_arena_full() {
    // With GOGC off and no limit no cycle starts and nothing is freed: the
    // mutators fill the arena, and the run stops when an allocation fails,
    // and says so, rather than failing.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("c.json");
    let mut args = concurrent("2");
    args.extend([
        "--gogc",
        "off",
        "--no-out",
        "--json",
        json.to_str().unwrap(),
    ]);
    let o = bench_in(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(
        s.contains("stopped after 0 of 2 cycles because an allocation failed: heap full: "),
        "{s}"
    );
    assert!(s.contains("the pacer never starts a cycle"), "{s}");
    let r = &read_lines(&json)[0];
    assert_eq!(r["stop_reason"], "heap-full");
    let why = r["heap_full"].as_str().expect("heap_full says why");
    assert!(why.starts_with("heap full: "), "{why}");
    assert!(r["gogc"].is_null() && r["verified"].is_null());
    assert_eq!(r["cycles"].as_array().map(Vec::len), Some(0));
    let fill = |used: &str, cap: &str| r[used].as_f64().unwrap() / r[cap].as_f64().unwrap();
    let (objects, slots) = (
        fill("allocated_objects", "arena_objects"),
        fill("allocated_slots", "arena_slots"),
    );
    // The allocation failed with one capacity used up (to within a span),
    // not at some fraction of it.
    assert!(objects.max(slots) > 0.99, "{objects} {slots}");
    assert!(objects <= 1.0 && slots <= 1.0, "{objects} {slots}");
}

/// Flags for a small concurrent run whose cycles are short in a debug build:
/// a 4096-object starting heap (192 KiB) at GOGC 10, so each cycle's goal is
/// the heap minimum scaled by GOGC (0.4 MiB) and the mutators allocate about
/// 4000 objects a cycle, in an arena of some 160000.
fn steady(cycles: &'static str, json: &Path) -> Vec<String> {
    [
        "--mutators",
        "2",
        "--objects",
        "4096",
        "--gogc",
        "10",
        "--cycles",
        cycles,
    ]
    .into_iter()
    .map(String::from)
    .chain([
        "--no-out".into(),
        "--json".into(),
        json.display().to_string(),
    ])
    .collect()
}

#[test]
fn concurrent_run_of_many_cycles_stays_in_its_arena() {
    // The arena holds a few times the steady-state heap, not what the run
    // allocates: freed objects are reused, so 200 cycles, allocating many
    // times the arena's capacity, complete in it.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("c.json");
    let args = steady("200", &json);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = bench_in(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("note:"), "{}", stdout(&o));
    let r = &read_lines(&json)[0];
    assert_eq!(r["stop_reason"], "cycles");
    assert!(r["heap_full"].is_null(), "{}", r["heap_full"]);
    assert_eq!(r["verified"], true);
    let cycles = r["cycles"].as_array().unwrap();
    assert_eq!(cycles.len(), 200);
    let arena = r["arena_objects"].as_u64().unwrap();
    let sum = |f: &str| cycles.iter().map(|c| c[f].as_u64().unwrap()).sum::<u64>();
    let reused = sum("reused_objects");
    assert!(
        reused > 2 * arena,
        "{reused} reused objects in an arena of {arena}"
    );
    assert!(sum("swept_objects") > 2 * arena);
    for c in cycles {
        assert!(c["arena_objects"].as_u64().unwrap() <= arena, "{c}");
    }
    let used = r["allocated_objects"].as_u64().unwrap();
    assert!(used > 4096 && used <= arena, "{used} of {arena}");
    assert!(r["allocated_slots"].as_u64() <= r["arena_slots"].as_u64());

    // A run of 2 cycles over the same heap gets the same arena.
    let json2 = dir.path().join("c2.json");
    let args = steady("2", &json2);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = bench_in(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let r2 = &read_lines(&json2)[0];
    assert_eq!(r2["stop_reason"], "cycles");
    for f in ["arena_objects", "arena_slots"] {
        assert_eq!(r[f], r2[f], "{f} depends on --cycles");
    }
}

#[test]
fn concurrent_bad_values_are_rejected_clearly() {
    fails_with(&["--mutators", "0"], "at least 1 mutator is needed");
    fails_with(&["--cycles", "0"], "at least 1 cycle is needed");
    fails_with(
        &["--mutators", "x"],
        "`x` is not a whole number of mutators",
    );
    fails_with(&["--mutators", "5000"], "5000 mutators is too many");
    fails_with(
        &["--cycles", "2", "--gogc", "lots"],
        "`lots` is not a GOGC value: a whole percentage such as 100, or off",
    );
    fails_with(
        &["--cycles", "2", "--memory-limit", "12x"],
        "`12x` is not a memory limit",
    );
    // Pacer flags need the concurrent mode; stop-the-world flags refuse it.
    fails_with(&["--gogc", "50"], "--mutators <MUTATORS>|--cycles <CYCLES>");
    fails_with(&["--mutators", "2", "--reps", "3"], "cannot be used with");
    fails_with(
        &["--mutators", "2", "--backend", "bfs", "--no-out"],
        "backend bfs cannot run the concurrent mode",
    );
}

#[test]
fn compare_skips_concurrent_records() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("c.json");
    let mut args = concurrent("1");
    args.extend(["--no-out", "--json", json.to_str().unwrap()]);
    let o = bench_in(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    fails_with(
        &["--compare", json.to_str().unwrap()],
        "no stop-the-world runs in this report",
    );
}

#[test]
fn json_on_stdout_moves_the_table_to_stderr() {
    let mut args = SMALL.to_vec();
    args.extend(["--no-out", "--json", "-", "--backend", "bfs"]);
    let o = bench(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout is only JSON"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(stderr(&o).contains("M edges/s"));
}

#[test]
fn help_documents_the_schema() {
    let o = bench(&["--help"]);
    assert!(o.status.success());
    let s = stdout(&o);
    for needle in [
        "edges_per_s_median",
        "machine.cpu_model",
        "--compare",
        "default suite",
        "--mutators",
        "--gogc",
        "--memory-limit",
        "Concurrent mode",
        "cycles.park_p99_s",
        "goal_ratio_median",
        "--heap <FILE>",
        "--format <FORMAT>",
        "--edge-roots <ROOTS>",
        "HPROF heap dump",
        "import.reached_fraction",
        "import.missing_refs",
    ] {
        assert!(s.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn table_has_every_column_and_quiet_when_piped() {
    let mut args = SMALL.to_vec();
    args.push("--no-out");
    let o = bench(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    let header = s.lines().next().unwrap();
    for col in [
        "backend",
        "adapter",
        "shape",
        "objects",
        "edges",
        "marked",
        "thr",
        "median ms",
        "spread",
        "M edges/s",
        "vs bfs",
        "batches",
        "prepare ms",
        "verified",
    ] {
        assert!(header.contains(col), "no {col} column in {header}");
    }
    assert_eq!(s.lines().filter(|l| l.ends_with("yes")).count(), 6);
    // (The "not run" note for absent backends is covered by the unit test
    // default_suite_names_missing_gpu_backends.)
    // No progress bar when stderr is not a terminal.
    assert_eq!(stderr(&o), "");
}

/// Runs host-bench in a temporary folder with `args` and neither
/// XDG_RUNTIME_DIR nor RUST_LOG in its environment, as on a server or in a
/// container without a desktop session.
fn bench_without_xdg(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    Command::new(env!("CARGO_BIN_EXE_host-bench"))
        .args(args)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("RUST_LOG")
        .current_dir(dir.path())
        .output()
        .expect("host-bench runs")
}

/// The lines of `o`'s stderr that mention XDG_RUNTIME_DIR.
fn xdg_lines(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| l.contains("XDG_RUNTIME_DIR"))
        .map(String::from)
        .collect()
}

/// True when a Vulkan run failed only for want of an adapter outside CI
/// (CI installs lavapipe, and there a missing adapter is a failure).
fn no_vulkan_here(o: &Output) -> bool {
    !o.status.success()
        && std::env::var_os("CI").is_none()
        && stderr(o).contains("no vulkan adapter was found")
}

#[test]
fn cpu_run_without_xdg_runtime_dir_prints_no_loader_line() {
    let tiny = fixture("tiny.edges");
    let args = [
        "--backend",
        "cpu",
        "--heap",
        &tiny,
        "--reps",
        "1",
        "--no-out",
    ];
    let o = bench_without_xdg(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(xdg_lines(&o), Vec::<String>::new());
    assert_eq!(stderr(&o), "");
    // At debug level the plan shows, but no GPU was prepared for: a CPU run
    // opens no wgpu instance, so nothing touches XDG_RUNTIME_DIR.
    let o = bench_without_xdg(&[&args[..], &["-vv"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("host-bench: debug: plan: "),
        "{}",
        stderr(&o)
    );
    assert_eq!(xdg_lines(&o), Vec::<String>::new());
}

#[test]
fn gpu_run_without_xdg_runtime_dir_prints_no_loader_line() {
    if !cfg!(feature = "gpu") {
        return;
    }
    let args = [
        "--backend",
        "vulkan",
        "--objects",
        "1000",
        "--shape",
        "list",
        "--reps",
        "1",
        "--no-out",
    ];
    let o = bench_without_xdg(&args);
    if no_vulkan_here(&o) {
        return;
    }
    assert!(o.status.success(), "{}", stderr(&o));
    // Without host-bench's private directory, Mesa's drivers print
    // "error: XDG_RUNTIME_DIR is invalid or not set in the environment."
    // at every wgpu instance.
    assert_eq!(xdg_lines(&o), Vec::<String>::new());
    assert_eq!(stderr(&o), "");
    // -vv says what host-bench did, and the directory is gone at exit.
    let o = bench_without_xdg(&[&args[..], &["-vv"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = xdg_lines(&o);
    let [line] = &lines[..] else {
        panic!("one XDG_RUNTIME_DIR line expected: {lines:?}");
    };
    let dir = line
        .strip_prefix("host-bench: debug: XDG_RUNTIME_DIR is not set: set to ")
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(!Path::new(dir).exists(), "{dir} is left behind");
    assert!(
        stderr(&o).contains("host-bench: info: vulkan: opened "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn quiet_prints_nothing_on_stderr() {
    let quiet = |backend: &str| {
        let mut args = SMALL.to_vec();
        args.extend(["--backend", backend, "--no-out", "-q"]);
        bench_without_xdg(&args)
    };
    let o = quiet("cpu");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert!(stdout(&o).contains("M edges/s"), "the results still print");
    if cfg!(feature = "gpu") {
        let o = quiet("vulkan");
        if !no_vulkan_here(&o) {
            assert!(o.status.success(), "{}", stderr(&o));
            assert_eq!(stderr(&o), "");
        }
    }
    fails_with(&["-q", "-v"], "cannot be used with");
}

#[test]
fn out_dir_gets_report_csv_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = bench_in(
        dir.path(),
        &[
            "--objects",
            "500,2000",
            "--shape",
            "random,tree",
            "--reps",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&format!("{}", out.join("throughput.svg").display())));
    assert_eq!(read_lines(&out.join("report.json")).len(), 12);
    let csv = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("backend,adapter,shape,heap,objects,"));
    assert_eq!(lines.count(), 12);
    for svg in ["throughput.svg", "scaling.svg"] {
        let body = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(body.starts_with("<svg") && body.len() > 1000, "{svg}");
        assert!(body.contains("tree"), "{svg} lacks the shape");
    }
    // One size: no scaling plot, and the earlier one is not left behind.
    let o = bench_in(
        dir.path(),
        &[
            "--objects",
            "500",
            "--shape",
            "list",
            "--reps",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("throughput.svg").exists());
    assert!(!out.join("scaling.svg").exists());
}

#[test]
fn default_out_dir_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let o = bench_in(
        dir.path(),
        &["--objects", "300", "--shape", "tree", "--reps", "1"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("wrote host-bench-report/report.json"));
    assert!(dir.path().join("host-bench-report/runs.csv").exists());
}

#[test]
fn verify_passes_on_a_good_heap() {
    for shape in ["random", "list", "tree", "wide", "powerlaw"] {
        let o = bench(&[
            "--verify",
            "--shape",
            shape,
            "--objects",
            "3000",
            "--reps",
            "1",
            "--threads",
            "1,2",
            "--no-out",
        ]);
        assert!(o.status.success(), "{shape}: {}", stderr(&o));
        let s = stdout(&o);
        // cpu-serial once, cpu and bfs at each of two thread counts.
        assert_eq!(s.lines().filter(|l| l.ends_with("yes")).count(), 5, "{s}");
    }
    let o = bench(&[
        "--no-verify",
        "--shape",
        "list",
        "--objects",
        "100",
        "--reps",
        "1",
        "--no-out",
    ]);
    assert!(o.status.success());
    assert!(!stdout(&o).contains("yes"));
}

#[test]
fn compare_prints_ratios_between_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    for p in [&a, &b] {
        let mut args = SMALL.to_vec();
        args.extend(["--no-out", "--json", p.to_str().unwrap()]);
        let o = bench_in(dir.path(), &args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // Two saved reports, no runs.
    let o = bench_in(
        dir.path(),
        &[
            "--compare",
            a.to_str().unwrap(),
            "--against",
            b.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.contains("6 of 6 runs matched"), "{s}");
    assert!(s.contains("geometric mean ratio"), "{s}");
    assert!(s.lines().filter(|l| l.contains("x  ")).count() >= 6, "{s}");
    // This invocation's runs against a saved report.
    let mut args = vec![
        "--objects",
        "1000",
        "--shape",
        "list",
        "--reps",
        "2",
        "--no-out",
    ];
    args.extend(["--compare", a.to_str().unwrap()]);
    let o = bench_in(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.contains("3 of 3 runs matched"), "{s}");
    assert!(s.contains("3 of its runs not run now"), "{s}");
}

#[test]
fn compare_with_a_missing_or_bad_report_fails_first() {
    fails_with(&["--compare", "nope.json"], "nope.json: No such file");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "not json\n").unwrap();
    fails_with(
        &["--compare", bad.to_str().unwrap()],
        "line 1: not a host-bench report",
    );
}

#[test]

fn saved_heap_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("heap.img");
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let o = bench_in(
        dir.path(),
        &[
            "--shape",
            "powerlaw",
            "--objects",
            "5000",
            "--reps",
            "1",
            "--no-out",
            "--save",
            img.to_str().unwrap(),
            "--json",
            a.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("saved the heap to"));
    let o = bench_in(
        dir.path(),
        &[
            "--heap",
            img.to_str().unwrap(),
            "--reps",
            "1",
            "--no-out",
            "--verify",
            "--json",
            b.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (built, loaded) = (read_lines(&a), read_lines(&b));
    assert_eq!(built.len(), loaded.len());
    for (x, y) in built.iter().zip(&loaded) {
        for f in ["objects", "edges", "marked", "bytes_marked"] {
            assert_eq!(x[f], y[f], "{f}");
        }
        assert_eq!(y["shape"], "image");
        assert_eq!(y["verified"], true);
        assert_eq!(y["import"]["format"], "image");
        assert_eq!(y["import"]["reached"], x["marked"]);
    }
}

// ---------------------------------------------------------------------------
// Heaps from files: the committed fixtures of gpumark's tests/import.rs
// ---------------------------------------------------------------------------

/// A fixture of the repository's tests/fixtures, by absolute path.
fn fixture(name: &str) -> String {
    format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Objects in tiny.hprof, and those its roots reach (`TINY_OBJECTS` and
/// `TINY_REACHABLE` in tests/import.rs, which checks them against an
/// independent HPROF reader).
const TINY_HPROF_OBJECTS: u64 = 18;
const TINY_HPROF_REACHABLE: u64 = 15;

/// Runs host-bench with `args` and `--json`, expecting success and nothing
/// on stderr; returns stdout and the records.
fn bench_json(args: &[&str]) -> (String, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut args = args.to_vec();
    args.extend(["--no-out", "--json", json.to_str().unwrap()]);
    let o = bench_in(dir.path(), &args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    // No import progress either when stderr is not a terminal.
    assert_eq!(stderr(&o), "", "{args:?}");
    (stdout(&o), read_lines(&json))
}

#[test]
fn heap_edge_list_prints_the_import_and_verifies() {
    let edges = fixture("tiny.edges");
    let (s, runs) = bench_json(&["--heap", &edges, "--reps", "1", "--verify"]);
    let block = format!("import: {edges} (edges, by content): 358 B in ");
    assert!(s.starts_with(&block), "{s}");
    for needle in [
        "\n  9 objects, 10 edges, 1 root (in-degree-zero)\n",
        "\n  0 references to absent ids\n",
        "\n  reached 6 of 9 objects (66.67%)\n\nbackend ",
    ] {
        assert!(s.contains(needle), "{needle:?} not in:\n{s}");
    }
    assert_eq!(s.lines().filter(|l| l.ends_with("yes")).count(), 3, "{s}");
    assert_eq!(runs.len(), 3);
    let fields = documented_fields("stw");
    for r in &runs {
        assert_fields_match(r, &fields);
        assert_eq!(
            (&r["shape"], &r["heap"]),
            (&"edges".into(), &edges.clone().into())
        );
        assert_eq!(
            (&r["objects"], &r["edges"], &r["marked"]),
            (&9.into(), &10.into(), &6.into())
        );
        assert!(r["seed"].is_null() && r["roots"].is_null() && r["ptrs"].is_null());
        assert_eq!(r["verified"], true);
        let i = &r["import"];
        assert_eq!(i["format"], "edges");
        assert_eq!(i["format_forced"], false);
        assert_eq!(i["input_bytes"], 358);
        assert!(i["import_s"].as_f64().unwrap() >= 0.0);
        assert_eq!(
            (&i["objects"], &i["edges"], &i["roots"]),
            (&9.into(), &10.into(), &1.into())
        );
        assert_eq!((&i["missing_refs"], &i["reached"]), (&0.into(), &6.into()));
        assert!((i["reached_fraction"].as_f64().unwrap() - 6.0 / 9.0).abs() < 1e-12);
        assert_eq!(i["edge_roots"], "in-degree-zero");
        assert!(i["classes"].is_null() && i["root_kinds"].is_null());
    }

    // The other root choices (the reachable counts of tests/import.rs).
    let (s, runs) = bench_json(&[
        "--heap",
        &edges,
        "--edge-roots",
        "nodes:77,3000",
        "--backend",
        "cpu",
        "--reps",
        "1",
    ]);
    assert!(s.contains("2 roots (nodes:77,3000)"), "{s}");
    assert_eq!(runs[0]["marked"], 4);
    assert_eq!(runs[0]["import"]["edge_roots"], "nodes:77,3000");
    // Random roots: one import per seed, each seeded.
    let (s, runs) = bench_json(&[
        "--heap",
        &edges,
        "--format",
        "edges",
        "--edge-roots",
        "random:9",
        "--seed",
        "1,2",
        "--backend",
        "bfs",
        "--reps",
        "1",
    ]);
    assert_eq!(s.matches("import: ").count(), 2, "{s}");
    assert!(s.contains("(edges, --format)"), "{s}");
    assert_eq!(runs.len(), 2);
    for (r, seed) in runs.iter().zip([1, 2]) {
        assert_eq!((&r["seed"], &r["marked"]), (&seed.into(), &9.into()));
        assert_eq!(r["import"]["edge_roots"], "random:9");
        assert_eq!(r["import"]["format_forced"], true);
        assert_eq!(r["import"]["reached_fraction"], 1.0);
    }
}

#[test]
fn heap_hprof_marks_exactly_the_reachable_objects() {
    let hprof = fixture("tiny.hprof");
    let (s, runs) = bench_json(&["--heap", &hprof, "--reps", "2", "--threads", "1,2"]);
    assert!(
        s.starts_with(&format!("import: {hprof} (hprof, by content): 1.6 KiB in ")),
        "{s}"
    );
    for needle in [
        "\n  18 objects (6 classes, 9 instances, 1 object array, 2 primitive arrays), 27 edges, \
         9 roots\n",
        "\n  root records: java_frame 1, jni_global 1, jni_local 1, monitor_used 1, native_stack 1, \
         sticky_class 2, thread_block 1, thread_object 1, unknown 1\n",
        "\n  3 references to absent ids, stored as nil (1 of them a root, dropped)\n",
        "\n  reached 15 of 18 objects (83.33%)\n",
    ] {
        assert!(s.contains(needle), "{needle:?} not in:\n{s}");
    }
    // One block for the heap, however many runs.
    assert_eq!(s.matches("import: ").count(), 1, "{s}");
    // cpu-serial once, cpu and bfs at each of two thread counts.
    assert_eq!(runs.len(), 5);
    let fields = documented_fields("stw");
    let size = std::fs::metadata(&hprof).unwrap().len();
    for r in &runs {
        assert_fields_match(r, &fields);
        assert_eq!(r["shape"], "hprof");
        assert_eq!(r["objects"], TINY_HPROF_OBJECTS);
        assert_eq!(r["marked"], TINY_HPROF_REACHABLE, "{}", r["backend"]);
        assert_eq!((&r["edges"], &r["verified"]), (&27.into(), &true.into()));
        let i = &r["import"];
        assert_eq!(i["format"], "hprof");
        assert_eq!(i["input_bytes"], size);
        assert_eq!((&i["objects"], &i["reached"]), (&18.into(), &15.into()));
        assert_eq!(
            (&i["edges"], &i["slots"], &i["roots"]),
            (&27.into(), &48.into(), &9.into())
        );
        assert_eq!(
            (&i["missing_refs"], &i["missing_roots"]),
            (&3.into(), &1.into())
        );
        assert_eq!((&i["classes"], &i["instances"]), (&6.into(), &9.into()));
        assert_eq!(
            (&i["object_arrays"], &i["primitive_arrays"]),
            (&1.into(), &2.into())
        );
        assert_eq!(i["root_kinds"].as_object().map(|k| k.len()), Some(9));
        assert_eq!(i["root_kinds"]["ROOT_STICKY_CLASS"], 2);
        assert!(i["edge_roots"].is_null());
        assert!((i["reached_fraction"].as_f64().unwrap() - 15.0 / 18.0).abs() < 1e-12);
        assert_eq!(i["sizes_raised"], 0);
    }
    // 4-byte ids: the same heap, sizes raised to hold 8-byte slots.
    let (s, runs) = bench_json(&["--heap", &fixture("tiny-id4.hprof"), "--reps", "1"]);
    assert!(s.contains("raised to 8 bytes per slot"), "{s}");
    assert!(runs.iter().all(|r| r["marked"] == TINY_HPROF_REACHABLE));
}

#[test]
fn heap_hprof_saves_as_an_image_and_runs_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("tiny.img");
    let (s, _) = bench_json(&[
        "--heap",
        &fixture("tiny.hprof"),
        "--backend",
        "cpu",
        "--reps",
        "1",
        "--save",
        img.to_str().unwrap(),
    ]);
    assert!(s.contains("saved the heap to"), "{s}");
    let (s, runs) = bench_json(&["--heap", img.to_str().unwrap(), "--reps", "1"]);
    assert!(s.contains("(image, by content)"), "{s}");
    assert!(runs
        .iter()
        .all(|r| r["marked"] == TINY_HPROF_REACHABLE && r["shape"] == "image"));

    let (s, runs) = bench_json(&["--heap", &fixture("tiny.hprof"), "--cycles", "2"]);
    assert!(s.contains("reached 15 of 18 objects"), "{s}");
    assert!(s.contains("concurrent: hprof "), "{s}");
    let r = &runs[0];
    assert_fields_match(r, &documented_fields("concurrent"));
    assert_eq!(
        (&r["mode"], &r["shape"]),
        (&"concurrent".into(), &"hprof".into())
    );
    assert_eq!((&r["objects"], &r["verified"]), (&18.into(), &true.into()));
    assert_eq!(r["import"]["reached"], TINY_HPROF_REACHABLE);
}

#[test]
fn heap_in_another_format_than_format_says_fails_clearly() {
    let edges = fixture("tiny.edges");
    fails_with(
        &["--heap", &edges, "--format", "hprof", "--no-out"],
        &format!(
            "host-bench: cannot import {edges} as an HPROF heap dump (--format hprof): not an \
             HPROF file: it begins with"
        ),
    );
    fails_with(
        &["--heap", &edges, "--format", "xml"],
        "unknown heap format \"xml\": expected image, hprof or edges",
    );
    fails_with(
        &[
            "--heap",
            &fixture("tiny.hprof"),
            "--edge-roots",
            "random:3",
            "--no-out",
        ],
        "--edge-roots chooses the roots of an edge list, but",
    );
    fails_with(
        &["--heap", &edges, "--seed", "1,2", "--no-out"],
        "--seed lists 2 seeds, but --heap marks one heap",
    );
    fails_with(
        &["--heap", &edges, "--edge-roots", "nodes:4", "--no-out"],
        "root node 4 does not appear",
    );
    fails_with(
        &["--heap", &edges, "--edge-roots", "some"],
        "is not a root choice",
    );
    fails_with(&["--edge-roots", "random:3"], "--heap <FILE>");
    fails_with(
        &["--heap", &fixture("absent.hprof"), "--no-out"],
        "absent.hprof: No such file",
    );
}

#[test]
fn malformed_heap_files_name_the_offset_or_line() {
    let truncated = fixture("tiny-truncated.hprof");
    // The file ends inside an INSTANCE_DUMP: the error is at its last byte.
    let end = std::fs::metadata(&truncated).unwrap().len();
    fails_with(
        &["--heap", &truncated, "--no-out"],
        &format!(
            "cannot import {truncated} as an HPROF heap dump (by content): truncated input: \
             byte {end} in the INSTANCE_DUMP record at byte "
        ),
    );
    fails_with(
        &["--heap", &fixture("tiny-badtag.hprof"), "--no-out"],
        "unknown heap dump sub-record tag 0x42 at byte ",
    );
    fails_with(
        &[
            "--heap",
            &fixture("tiny-overrun.hprof"),
            "--cycles",
            "1",
            "--no-out",
        ],
        "the INSTANCE_DUMP sub-record at byte ",
    );
    let bad = fixture("bad-line.edges");
    fails_with(
        &["--heap", &bad, "--no-out"],
        &format!("cannot import {bad} as an edge list (by content): edge list line 4: "),
    );
    fails_with(&["--heap", &bad, "--no-out"], "\"12 x\"");
}
