//! The indicatif rendering of rankbook's progress interface.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rankbook::progress::{CancelFlag, Progress};

/// A progress bar on stderr, hidden when stderr is not a terminal or when quiet.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    /// A bar that draws only when useful.
    pub fn new(quiet: bool) -> Self {
        let bar = ProgressBar::hidden();
        if !quiet && std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self { bar }
    }
}

impl Progress for Bar {
    fn start(&self, label: &str, total: u64) {
        self.bar.reset();
        self.bar.set_length(total);
        self.bar.set_prefix(label.to_string());
        self.bar.set_message("");
    }
    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
    fn status(&self, text: &str) {
        self.bar.set_message(text.to_string());
    }
}

/// A cancellation flag set by Ctrl-C: the first press asks the running
/// operation to stop at its next safe point (`message` says what happens);
/// a second one exits at once.
pub fn cancel_on_ctrl_c(message: &'static str) -> CancelFlag {
    cancel_on_ctrl_c_with(CancelFlag::new(), message)
}

/// Sets `cancel` on the first Ctrl-C (printing `message`); exits on the second.
pub fn cancel_on_ctrl_c_with(cancel: CancelFlag, message: &'static str) -> CancelFlag {
    let c = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if c.is_cancelled() {
            std::process::exit(130);
        }
        super::style::log(message);
        c.cancel();
    });
    cancel
}
