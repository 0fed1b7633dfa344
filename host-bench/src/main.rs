//! host-bench: marks synthetic or saved heaps with each gpumark backend and
//! reports throughput against the `bfs` floor.
//!
//! `host-bench` with no arguments runs the default suite; `host-bench --help`
//! lists the flags and documents the JSON report. The pieces:
//!
//! - [`cli`]: the flags;
//! - [`backend`]: the backends and whether this build can run them;
//! - [`runs`]: the plan (every heap × thread count × backend), checked before
//!   anything is built, and the timed, verified marks;
//! - [`stats`]: median, spread;
//! - [`report`]: the JSON Lines report, the CSV and the table;
//! - [`plots`]: the SVG plots;
//! - [`compare`]: `--compare OLD.json`;
//! - [`machine`]: what the report says about the machine.

mod backend;
mod cli;
mod compare;
mod error;
mod machine;
mod plots;
mod report;
mod runs;
mod stats;

use backend::{MarkContext, ALL};
use clap::Parser;
use cli::Args;
use compare::{compare, read_report, PastRun};
use error::BenchError;
use machine::{meminfo_field, Machine};
use report::Run;
use runs::{execute, Plan};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    let args = Args::parse();
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
    plan.check_sizes(meminfo_field("MemAvailable"))?;
    let ctx = MarkContext::new(&plan.threads).map_err(|source| BenchError::Threads {
        threads: plan.threads.iter().copied().max().unwrap_or(1),
        source,
    })?;
    let out_dir = args.out_dir();
    if let Some(dir) = &out_dir {
        std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
    }
    let unix_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    let runs = execute(
        &plan,
        &ctx,
        &machine,
        unix_time,
        std::io::stderr().is_terminal(),
    )?;

    let mut text = report::table(&runs);
    text.push_str(&format!("machine: {}\n", machine.summary()));
    if args.backend.is_empty() {
        text.push_str(&not_run_note());
    }
    if let Some(p) = &plan.save {
        text.push_str(&format!("saved the heap to {}\n", p.display()));
    }
    let mut written: Vec<PathBuf> = Vec::new();
    match args.json.as_deref() {
        Some("-") => {
            let stdout = std::io::stdout();
            report::write_json(&runs, stdout.lock()).map_err(BenchError::io("<stdout>"))?;
        }
        Some(path) => {
            report::write_json_file(&runs, Path::new(path))?;
            written.push(path.into());
        }
        None => {}
    }
    if let Some(dir) = &out_dir {
        written.extend(write_out_dir(&runs, dir)?);
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
    res.map_err(BenchError::io("<stdout>"))
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

/// Writes report.json, runs.csv and the plots to `dir`; returns their paths.
fn write_out_dir(runs: &[Run], dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let mut written = Vec::new();
    let json = dir.join("report.json");
    report::write_json_file(runs, &json)?;
    written.push(json);
    let csv = dir.join("runs.csv");
    report::write_csv_file(runs, &csv)?;
    written.push(csv);
    let svg = |name: &str, body: &str, written: &mut Vec<PathBuf>| {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(BenchError::io(&p))?;
        written.push(p);
        Ok::<_, BenchError>(())
    };
    svg(
        "throughput.svg",
        &plots::throughput_svg(runs)?,
        &mut written,
    )?;
    let scaling = dir.join("scaling.svg");
    match plots::scaling_svg(runs)? {
        Some(body) => svg("scaling.svg", &body, &mut written)?,
        // A scaling plot left by an earlier run would describe other runs.
        None if scaling.exists() => {
            std::fs::remove_file(&scaling).map_err(BenchError::io(&scaling))?
        }
        None => {}
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
        assert!(note.contains("gpu, vulkan, metal, dx12, gl"), "{note}");
        assert!(note.contains("feature `gpu`"), "{note}");
        assert!(Backend::available().contains(&Backend::Bfs));
    }
}
