//! One progress interface for long operations; the CLI renders it with indicatif,
//! the notebook kernel with display updates. Also the cooperative cancellation flag.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// Receives progress of a long operation (encoding, searching, training).
pub trait Progress: Send + Sync {
    /// A new phase starts, with `total` units of work (0 when unknown).
    fn start(&self, label: &str, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The phase is over.
    fn finish(&self);
    /// A short status shown beside the bar (e.g. training loss and learning rate).
    fn status(&self, _text: &str) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _label: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

/// A shared flag checked at safe points (batch and step boundaries); setting it
/// makes the running operation return [`Error::Cancelled`] and leave state usable.
#[derive(Clone, Default, Debug)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A new, unset flag.
    pub fn new() -> Self {
        Self::default()
    }
    /// A flag sharing `flag` (set elsewhere, e.g. by an interpreter's interrupt).
    pub fn from_shared(flag: Arc<AtomicBool>) -> Self {
        Self(flag)
    }
    /// Asks running operations to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Clears the flag so later operations run.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
    /// Whether a stop was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Returns `Err(Cancelled)` when a stop was requested.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Lets an action through at most once per interval: live views redraw at a
/// bounded rate however fast the work reports.
#[derive(Debug, Clone)]
pub struct Throttle {
    every: std::time::Duration,
    last: Option<std::time::Instant>,
}

impl Throttle {
    /// At most one action per `every`; the first is always let through.
    pub fn new(every: std::time::Duration) -> Self {
        Self { every, last: None }
    }
    /// Whether the action may run now; when it may, the time is recorded.
    pub fn ready(&mut self) -> bool {
        let now = std::time::Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            return false;
        }
        self.last = Some(now);
        true
    }
    /// Records an action taken regardless (a final flush), restarting the interval.
    pub fn mark(&mut self) {
        self.last = Some(std::time::Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lets_the_first_through_then_one_per_interval() {
        let mut t = Throttle::new(std::time::Duration::from_millis(50));
        assert!(t.ready());
        assert!(!t.ready());
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert!(t.ready());
        t.mark();
        assert!(!t.ready());
        let mut never = Throttle::new(std::time::Duration::ZERO);
        assert!(never.ready() && never.ready());
    }

    #[test]
    fn a_cancel_flag_is_shared_and_resettable() {
        let shared = Arc::new(AtomicBool::new(false));
        let f = CancelFlag::from_shared(shared.clone());
        assert!(f.check().is_ok());
        shared.store(true, Ordering::SeqCst);
        assert!(matches!(f.check(), Err(Error::Cancelled)));
        f.reset();
        assert!(!shared.load(Ordering::SeqCst));
    }
}
