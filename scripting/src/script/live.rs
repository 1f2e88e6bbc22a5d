//! Live displays in a notebook: a training dashboard and a progress bar, each
//! one display replaced in place at a bounded rate, its final state always shown.

use std::sync::Mutex;
use std::time::Duration;

use rankbook::progress::{Progress, Throttle};
use rankbook::train::HistoryRecord;

use crate::session::{Output, OutputSink};

/// Minimum time between two updates of a live display.
const LIVE_EVERY: Duration = Duration::from_millis(100);

/// A display id unique in this process.
fn display_id(kind: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("rankbook-{kind}-{}-{n}", std::process::id())
}

fn text(t: String) -> Vec<(String, String)> {
    vec![("text/plain".to_string(), t)]
}

/// A training dashboard: the last step and the loss/lr/validation curves.
pub struct LiveView {
    sink: OutputSink,
    id: String,
    history: Vec<HistoryRecord>,
    throttle: Throttle,
}

impl LiveView {
    /// Shows an empty dashboard.
    pub fn start(sink: OutputSink) -> Self {
        let id = display_id("training");
        sink(Output::DisplayWithId(
            id.clone(),
            text("training: starting".into()),
        ));
        Self {
            sink,
            id,
            history: Vec::new(),
            throttle: Throttle::new(LIVE_EVERY),
        }
    }

    /// Adds a record; redraws unless the last redraw was too recent.
    pub fn record(&mut self, r: HistoryRecord) {
        self.history.push(r);
        if self.throttle.ready() {
            self.draw();
        }
    }

    /// Draws the current state now.
    pub fn flush(&mut self) {
        self.throttle.mark();
        self.draw();
    }

    fn draw(&self) {
        let last = self.history.iter().rev().find_map(|r| match r {
            HistoryRecord::Step(s) => Some(s),
            HistoryRecord::Eval(_) => None,
        });
        let mut bundle = text(match last {
            Some(s) => format!("step {}: loss {:.4}, lr {:.2e}", s.step, s.loss, s.lr),
            None => "training".to_string(),
        });
        if let Ok(svg) = rankbook::plot::training_curves(&self.history).to_svg() {
            bundle.push(("image/svg+xml".to_string(), svg));
        }
        (self.sink)(Output::Update(self.id.clone(), bundle));
    }
}

/// The state of the phase a [`DisplayProgress`] shows.
struct Phase {
    id: String,
    label: String,
    total: u64,
    done: u64,
    status: String,
    throttle: Throttle,
}

/// rankbook's progress interface as a notebook display: one display per
/// phase (encoding, indexing, ...), updated with a bar and the count.
pub struct DisplayProgress {
    sink: OutputSink,
    phase: Mutex<Option<Phase>>,
}

impl DisplayProgress {
    /// Progress shown through `sink`.
    pub fn new(sink: OutputSink) -> Self {
        Self {
            sink,
            phase: Mutex::new(None),
        }
    }

    fn bundle(p: &Phase) -> Vec<(String, String)> {
        let count = if p.total > 0 {
            format!("{}/{}", p.done, p.total)
        } else {
            p.done.to_string()
        };
        let status = if p.status.is_empty() {
            String::new()
        } else {
            format!(" {}", p.status)
        };
        let plain = format!("{}: {count}{status}", p.label);
        let bar = if p.total > 0 {
            format!(
                "<progress value=\"{}\" max=\"{}\"></progress> ",
                p.done, p.total
            )
        } else {
            String::new()
        };
        let html = format!(
            "<div class=\"rankbook-progress\">{bar}{}</div>",
            rankbook::present::html_escape(&plain)
        );
        vec![
            ("text/plain".to_string(), plain),
            ("text/html".to_string(), html),
        ]
    }

    fn with_phase(&self, f: impl FnOnce(&mut Phase) -> bool) {
        let Ok(mut guard) = self.phase.lock() else {
            return;
        };
        if let Some(p) = guard.as_mut()
            && f(p)
        {
            (self.sink)(Output::Update(p.id.clone(), Self::bundle(p)));
        }
    }
}

impl Progress for DisplayProgress {
    fn start(&self, label: &str, total: u64) {
        let p = Phase {
            id: display_id("progress"),
            label: label.to_string(),
            total,
            done: 0,
            status: String::new(),
            throttle: Throttle::new(LIVE_EVERY),
        };
        (self.sink)(Output::DisplayWithId(p.id.clone(), Self::bundle(&p)));
        if let Ok(mut guard) = self.phase.lock() {
            *guard = Some(p);
        }
    }
    fn advance(&self, n: u64) {
        self.with_phase(|p| {
            p.done += n;
            p.throttle.ready()
        });
    }
    fn status(&self, text: &str) {
        self.with_phase(|p| {
            p.status = text.to_string();
            p.throttle.ready()
        });
    }
    fn finish(&self) {
        self.with_phase(|p| {
            p.throttle.mark();
            true
        });
        if let Ok(mut guard) = self.phase.lock() {
            *guard = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_phase_is_one_display_updated_with_its_count_and_final_state() {
        let seen: Arc<Mutex<Vec<Output>>> = Arc::default();
        let s = seen.clone();
        let p = DisplayProgress::new(Arc::new(move |o| s.lock().unwrap().push(o)));
        p.start("encode", 3);
        for _ in 0..3 {
            p.advance(1);
        }
        p.finish();
        p.advance(1); // after finish: nothing shown
        let seen = seen.lock().unwrap();
        let Output::DisplayWithId(id, first) = &seen[0] else {
            panic!("first output {:?}", seen[0]);
        };
        assert_eq!(first[0].1, "encode: 0/3");
        // The first advance draws; the next two fall in the throttle window;
        // finish always draws the final count.
        assert_eq!(seen.len(), 3);
        let Output::Update(last_id, last) = &seen[2] else {
            panic!("last output {:?}", seen[2]);
        };
        assert_eq!(last_id, id);
        assert_eq!(last[0].1, "encode: 3/3");
        assert!(last[1].1.contains("<progress value=\"3\" max=\"3\">"));
    }
}
