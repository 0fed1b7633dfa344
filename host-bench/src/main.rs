//! host-bench: marks synthetic or saved heaps with each gpumark backend and
//! reports throughput against the `bfs` floor.
//!
//! `host-bench` with no arguments runs the default suite; `host-bench --help`
//! lists the flags and documents the JSON report. The pieces:
//!
//! - [`cli`]: the flags;
//! - [`backend`]: the backends and whether this build can run them;
//! - [`import`]: heaps from files (`--heap`): images, HPROF dumps, edge
//!   lists, and what their import found;
//! - [`source`]: where a heap comes from (built, or a file);
//! - [`runs`]: the plan (every heap × thread count × backend), checked before
//!   anything is built, and the timed, verified marks;
//! - [`concurrent`]: the concurrent mode, mutators running while paced
//!   cycles mark;
//! - [`stats`]: median, spread;
//! - [`record`]: the report's records, data only (every other module may use
//!   it; it uses none of them);
//! - [`report`]: the JSON Lines report, the CSV and the table;
//! - [`plots`]: the SVG plots;
//! - [`compare`](mod@compare): `--compare OLD.json`;
//! - [`machine`]: what the report says about the machine;
//! - [`progress`]: the progress bar;
//! - [`logging`]: diagnostics on stderr (`-v`, `-q`), host-bench's and
//!   gpumark's;
//! - [`runtime_dir`]: a private `XDG_RUNTIME_DIR` for the GPU drivers where
//!   the environment has none.
//!
//! The modules' imports form no cycle: each imports only modules before it
//! in this order: `record`, `stats`, `logging`, `runtime_dir`, `machine`,
//! `progress`, `backend`, `cli`, `error`, `import`, `source`, `concurrent`,
//! `report`, `plots`, `compare`, `runs` (and `main` any of them). The
//! records are data that every module may use; a module that computes one
//! adds its constructor there.

mod backend;
mod cli;
mod compare;
mod concurrent;
mod error;
mod import;
mod logging;
mod machine;
mod plots;
mod progress;
mod record;
mod report;
mod runs;
mod runtime_dir;
mod source;
mod stats;

use backend::{MarkContext, ALL};
use clap::Parser;
use cli::Args;
use compare::{compare, read_report, PastRun};
use error::BenchError;
use machine::meminfo_field;
use progress::Progress;
use record::{Machine, Report};
use runs::{execute, execute_concurrent, Plan};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    // Removes a private XDG_RUNTIME_DIR made for the GPU drivers, however
    // main returns (clap's errors included: parsed without exiting).
    let _runtime_dir = runtime_dir::Cleanup;
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    logging::init(logging::levels(args.verbose, args.quiet));
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("host-bench: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(args: &Args) -> Result<(), BenchError> {
    // Read the old report first: a typo in its name should not cost a suite.
    let old = match &args.compare {
        Some(p) => Some((p, read_report(p)?)),
        None => None,
    };
    if let (Some((old_path, old)), Some(new_path)) = (&old, &args.against) {
        let new = read_report(new_path)?;
        print!("{}", compare(old, &new, &old_path.display().to_string()));
        return Ok(());
    }

    let machine = Machine::detect();
    let plan = Plan::from_args(args, machine.cores)?;
    log::debug!(
        "plan: {} stop-the-world heaps × threads {:?} × backends {:?}; concurrent: {:?}",
        plan.heaps.len(),
        plan.threads,
        plan.backends.iter().map(|b| b.name()).collect::<Vec<_>>(),
        plan.concurrent
            .as_ref()
            .map(|c| (c.heaps.len(), &c.threads, &c.spec)),
    );
    plan.check_sizes(meminfo_field("MemAvailable"))?;
    if plan.gpu.count_ops && !plan.all_backends().iter().any(|b| b.is_gpu()) {
        log::warn!("--count-ops counts the GPU kernels' operations, and no GPU backend runs");
    }
    let mut ctx = MarkContext::new(&plan.threads).map_err(|source| BenchError::Threads {
        threads: plan.threads.iter().copied().max().unwrap_or(1),
        source,
    })?;
    ctx.open_gpus(&plan.all_backends(), plan.gpu)
        .map_err(|(b, reason)| BenchError::BackendUnavailable {
            backend: b.name(),
            reason,
        })?;
    let out_dir = args.out_dir();
    if let Some(dir) = &out_dir {
        std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
    }
    let unix_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    let progress = Progress::new(plan.steps(), std::io::stderr().is_terminal());
    let report = Report {
        stw: execute(&plan, &ctx, &machine, unix_time, &progress)?,
        concurrent: execute_concurrent(&plan, &ctx, &machine, unix_time, &progress)?,
    };
    progress.finish();
    let runs = &report.stw;

    let mut text = String::new();
    if !runs.is_empty() {
        text.push_str(&report::stw_imports_text(runs));
        text.push_str(&report::table(runs));
        text.push_str(&report::level_profile_text(runs));
        text.push_str(&report::stw_ops_text(runs));
    }
    if !report.concurrent.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&report::concurrent_imports_text(&report.concurrent));
        text.push_str(&report::concurrent_text(&report.concurrent));
        text.push_str(&report::concurrent_ops_text(&report.concurrent));
    }
    text.push_str(&format!("machine: {}\n", machine.summary()));
    if args.backend.is_empty() && !runs.is_empty() {
        text.push_str(&not_run_note());
    }
    if let Some(p) = &plan.save {
        text.push_str(&format!("saved the heap to {}\n", p.display()));
    }
    let mut written: Vec<PathBuf> = Vec::new();
    match args.json.as_deref() {
        Some("-") => {
            let stdout = std::io::stdout();
            report::write_json(&report, stdout.lock()).map_err(BenchError::io("<stdout>"))?;
        }
        Some(path) => {
            report::write_json_file(&report, Path::new(path))?;
            written.push(path.into());
        }
        None => {}
    }
    if let Some(dir) = &out_dir {
        written.extend(write_out_dir(&report, dir)?);
    }
    if !written.is_empty() {
        let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        text.push_str(&format!("wrote {}\n", names.join(", ")));
    }
    if let Some((old_path, old)) = &old {
        let new: Vec<PastRun> = runs.iter().map(PastRun::from).collect();
        text.push('\n');
        text.push_str(&compare(old, &new, &old_path.display().to_string()));
    }

    // With the JSON on stdout, the table goes to stderr.
    let res = if args.json.as_deref() == Some("-") {
        std::io::stderr().write_all(text.as_bytes())
    } else {
        std::io::stdout().write_all(text.as_bytes())
    };
    res.map_err(BenchError::io("<stdout>"))?;

    // A cycle that failed its check is an error, reported after the trace
    // lines and files that show it.
    for r in &report.concurrent {
        let s = &r.summary;
        if let Some(cycle) = s.first_failed {
            return Err(BenchError::CycleUnverified {
                heap: r.describe(),
                cycle,
                failed: r
                    .cycles
                    .iter()
                    .filter(|c| c.verified == Some(false))
                    .count(),
                cycles: r.cycles.len(),
            });
        }
    }
    Ok(())
}

/// Which known backends did not run in the default suite, and why.
fn not_run_note() -> String {
    let mut by_reason: Vec<(String, Vec<&str>)> = Vec::new();
    for b in ALL {
        if let Err(reason) = b.availability() {
            let reason = reason.to_string();
            match by_reason.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, names)) => names.push(b.name()),
                None => by_reason.push((reason, vec![b.name()])),
            }
        }
    }
    by_reason
        .into_iter()
        .map(|(reason, names)| format!("not run: {} ({reason})\n", names.join(", ")))
        .collect()
}

/// Writes report.json, and the files of each mode that ran: runs.csv and
/// the throughput and scaling plots for stop-the-world runs, a timeline per
/// concurrent run. Returns their paths.
///
/// A file of ours left by an earlier invocation that this one does not
/// write is removed: it would describe other runs.
fn write_out_dir(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let mut written = Vec::new();
    let json = dir.join("report.json");
    report::write_json_file(report, &json)?;
    written.push(json);
    let write = |name: &str, body: Option<String>, written: &mut Vec<PathBuf>| {
        let p = dir.join(name);
        match body {
            Some(body) => {
                std::fs::write(&p, body).map_err(BenchError::io(&p))?;
                written.push(p);
            }
            None if p.exists() => std::fs::remove_file(&p).map_err(BenchError::io(&p))?,
            None => {}
        }
        Ok::<_, BenchError>(())
    };
    let runs = &report.stw;
    let csv = dir.join("runs.csv");
    if runs.is_empty() {
        write("runs.csv", None, &mut written)?;
    } else {
        report::write_csv_file(runs, &csv)?;
        written.push(csv);
    }
    let throughput = match runs.is_empty() {
        true => None,
        false => Some(plots::throughput_svg(runs)?),
    };
    write("throughput.svg", throughput, &mut written)?;
    write("scaling.svg", plots::scaling_svg(runs)?, &mut written)?;
    // One timeline per concurrent run: timeline.svg for one run (the usual
    // case), timeline-1.svg, timeline-2.svg, ... in report order for more.
    let conc = &report.concurrent;
    let name = |i: usize| match conc.len() {
        1 => "timeline.svg".to_string(),
        _ => format!("timeline-{}.svg", i + 1),
    };
    for (i, r) in conc.iter().enumerate() {
        let points = plots::timeline_points(&r.cycles);
        let body = plots::timeline_svg(&r.describe(), &points, Some(r.arena_objects))?;
        write(&name(i), Some(body), &mut written)?;
    }
    if conc.len() != 1 {
        write("timeline.svg", None, &mut written)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend::Backend;

    #[test]
    fn default_suite_names_missing_gpu_backends() {
        let note = not_run_note();
        if cfg!(feature = "gpu") {
            // Linux has no Metal: the note says so.
            assert!(
                note.contains("not run: metal (no metal adapter was found)"),
                "{note}"
            );
        } else {
            assert!(note.contains("gpu, vulkan, metal, dx12, gl"), "{note}");
            assert!(note.contains("feature `gpu`"), "{note}");
        }
        assert!(Backend::available().contains(&Backend::Bfs));
    }
}
