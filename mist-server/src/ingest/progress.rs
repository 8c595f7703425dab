//! How far a running ingest job is, and whether it must stop: shared between
//! the job, the worker's lease renewer and the transcoder.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// Shared between a running job, its lease renewer and the transcoder.
pub struct JobProgress {
    progress: AtomicU8,
    stop: AtomicBool,
    /// Set when this job's claim is lost (renewal refused).
    lost: AtomicBool,
    /// The whole worker is stopping.
    worker_stopping: Arc<AtomicBool>,
}

impl JobProgress {
    pub(crate) fn new(worker_stopping: Arc<AtomicBool>) -> Self {
        JobProgress {
            progress: AtomicU8::new(0),
            stop: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            worker_stopping,
        }
    }

    /// A progress that nothing outside stops (tools, tests).
    pub fn standalone() -> Arc<Self> {
        Arc::new(Self::new(Arc::new(AtomicBool::new(false))))
    }

    /// Records progress (0–100); the renewer reports it with the next renewal.
    pub fn set(&self, percent: u8) {
        self.progress.store(percent.min(100), Ordering::Relaxed);
    }

    pub fn percent(&self) -> u8 {
        self.progress.load(Ordering::Relaxed)
    }

    /// Asks every stage of the job to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// True once the job should stop: write nothing more.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.worker_stopping.load(Ordering::Relaxed)
    }

    pub(crate) fn lose(&self) {
        self.lost.store(true, Ordering::Relaxed);
        self.stop();
    }

    pub(crate) fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }
}
