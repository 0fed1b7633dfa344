//! The progress display: a bar on stderr when it is a terminal, nothing
//! otherwise. Log lines are written above it ([`crate::logging`]).

use crate::logging;
use crate::machine::human_bytes;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::time::Duration;

/// The progress display: a bar on a terminal, nothing otherwise.
///
/// It is redrawn only when told (between marks), except while a heap is built
/// or verified, when a spinner ticks on its own thread; nothing draws during a
/// timed mark.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar of `steps` steps, drawn on stderr if `visible`.
    pub fn new(steps: u64, visible: bool) -> Progress {
        if !visible {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::new(steps);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} marks  {wide_msg}",
        ) {
            bar.set_style(style);
        }
        logging::show_bar(&bar);
        Progress { bar }
    }

    /// Untimed work: spins on its own.
    pub fn busy(&self, msg: String) {
        self.bar.set_message(msg);
        self.bar.enable_steady_tick(Duration::from_millis(120));
    }

    /// Timed work: nothing redraws until the next call.
    pub fn quiet(&self, msg: String) {
        self.bar.disable_steady_tick();
        self.bar.set_message(msg);
    }

    /// One step done.
    pub fn step(&self) {
        self.bar.inc(1);
    }

    /// A callback for `gpumark::import` that shows how much of `total`
    /// bytes of `what` it has read, the figures first so that a narrow
    /// terminal cuts the file name rather than them; `None` when nothing is
    /// drawn, so the importer need not call it. The importer calls it every
    /// `PROGRESS_STEP` bytes; the spinner keeps ticking between calls.
    pub fn bytes_callback(&self, what: String, total: u64) -> Option<gpumark::import::Progress> {
        if self.bar.is_hidden() {
            return None;
        }
        let message = move |read: u64| {
            let pct = 100.0 * read as f64 / total.max(1) as f64;
            format!("importing {pct:.0}% of {}: {what}", human_bytes(total))
        };
        self.busy(message(0));
        let bar = self.bar.clone();
        Some(Arc::new(move |read: u64| bar.set_message(message(read))))
    }

    /// Removes the bar.
    pub fn finish(&self) {
        logging::hide_bar();
        self.bar.finish_and_clear();
    }
}
