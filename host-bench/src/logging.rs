//! Diagnostics on stderr: host-bench's own and its libraries' (gpumark
//! reports a refused heap or a lost device through the `log` facade), as
//! `host-bench: <level>: <message>`, through `env_logger`.
//!
//! `-q` shows errors only, the default warnings too, `-v` info and `-vv`
//! debug, with other crates' (wgpu's) warnings from `-vv` on and their info
//! lines at `-vvv` ([`levels`]). `RUST_LOG`, when set, adds env_logger
//! directives on top (`RUST_LOG=wgpu_hal=info`). A line from a crate other
//! than host-bench or gpumark names the crate after the level.
//!
//! While the progress bar is drawn (a terminal only), each line is written
//! above it rather than through it.

use indicatif::ProgressBar;
use log::LevelFilter;
use std::io::Write;
use std::sync::Mutex;

/// The progress bar lines are written above, while one is drawn.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The levels for `-v` given `verbose` times and `-q`: host-bench's and
/// gpumark's, then every other crate's. Other crates are silent unless
/// asked for with `-vv`: wgpu logs at error level what is no error for
/// host-bench (an API without an adapter, such as EGL without a display
/// driver, while the default suite looks for one).
pub fn levels(verbose: u8, quiet: bool) -> (LevelFilter, LevelFilter) {
    match (quiet, verbose) {
        (true, _) => (LevelFilter::Error, LevelFilter::Off),
        (false, 0) => (LevelFilter::Warn, LevelFilter::Off),
        (false, 1) => (LevelFilter::Info, LevelFilter::Off),
        (false, 2) => (LevelFilter::Debug, LevelFilter::Warn),
        (false, _) => (LevelFilter::Trace, LevelFilter::Info),
    }
}

/// Installs the logger with `levels` (see [`levels`]). Called once, before
/// anything logs; a second call leaves the first logger in place.
pub fn init((ours, others): (LevelFilter, LevelFilter)) {
    let mut b = env_logger::Builder::new();
    b.filter_level(others)
        .filter_module("host_bench", ours)
        .filter_module("gpumark", ours)
        .parse_default_env()
        .format(|buf, r| {
            let level = r.level().as_str().to_ascii_lowercase();
            let krate = r.target().split("::").next().unwrap_or_default();
            match krate {
                "host_bench" | "gpumark" => writeln!(buf, "host-bench: {level}: {}", r.args()),
                _ => writeln!(buf, "host-bench: {level}: {krate}: {}", r.args()),
            }
        })
        .target(env_logger::Target::Pipe(Box::new(AboveBar)));
    let _ = b.try_init();
}

/// Writes log lines above `bar` while it is drawn (until [`hide_bar`]).
pub fn show_bar(bar: &ProgressBar) {
    if let Ok(mut b) = BAR.lock() {
        *b = Some(bar.clone());
    }
}

/// The bar is gone: log lines go straight to stderr again.
pub fn hide_bar() {
    if let Ok(mut b) = BAR.lock() {
        *b = None;
    }
}

/// stderr, with the progress bar (if any) cleared while a line is written
/// and drawn again after it.
struct AboveBar;

impl AboveBar {
    fn with_bar<T>(f: impl FnOnce() -> T) -> T {
        let bar = BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }
}

impl Write for AboveBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Self::with_bar(|| std::io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        Self::with_bar(|| std::io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_and_verbose_levels() {
        assert_eq!(levels(0, false), (LevelFilter::Warn, LevelFilter::Off));
        assert_eq!(levels(1, false), (LevelFilter::Info, LevelFilter::Off));
        assert_eq!(levels(2, false), (LevelFilter::Debug, LevelFilter::Warn));
        assert_eq!(levels(9, false), (LevelFilter::Trace, LevelFilter::Info));
        assert_eq!(levels(0, true), (LevelFilter::Error, LevelFilter::Off));
        assert_eq!(levels(2, true), (LevelFilter::Error, LevelFilter::Off));
    }
}
