//! The job queue: interactive jobs before batch jobs, FIFO within a priority, and latest-wins
//! slots for video streams (a frame still waiting is replaced by the next one, never queued).

use crate::jobs::JobState;
use easel_protocol::{Code, ProtocolError};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;

#[derive(Default)]
struct Queues {
    /// Each waiting job with the shared-memory bytes its input holds.
    waiting: Vec<(Arc<JobState>, u64)>,
    waiting_bytes: u64,
    running: usize,
    shutdown: bool,
}

/// One queue for all plugins; each plugin's workers take the best job for their plugin.
pub struct Scheduler {
    queues: Mutex<Queues>,
    ready: Condvar,
    max_queued: usize,
    max_queued_bytes: u64,
}

impl Scheduler {
    /// A queue admitting at most `max_queued` jobs holding at most `max_queued_bytes` of input.
    pub fn new(max_queued: usize, max_queued_bytes: u64) -> Self {
        Scheduler {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
            max_queued,
            max_queued_bytes,
        }
    }

    fn take(q: &mut Queues, i: usize) -> Arc<JobState> {
        let (job, bytes) = q.waiting.remove(i);
        q.waiting_bytes = q.waiting_bytes.saturating_sub(bytes);
        job
    }

    /// Queues a job, or refuses it when the queue is full (by count or by bytes).
    pub fn push(&self, job: Arc<JobState>) -> Result<(), ProtocolError> {
        let bytes = job.input_bytes;
        let mut q = self.queues.lock();
        if q.waiting_bytes.saturating_add(bytes) > self.max_queued_bytes && !q.waiting.is_empty() {
            return Err(ProtocolError::new(
                Code::QueueFull,
                format!(
                    "the {} jobs waiting hold {} MiB of images, and this one {} MiB more than the limit of {} MiB allows; try again when some have finished",
                    q.waiting.len(),
                    q.waiting_bytes >> 20,
                    bytes >> 20,
                    self.max_queued_bytes >> 20
                ),
            ));
        }
        if q.waiting.len() >= self.max_queued {
            return Err(ProtocolError::new(
                Code::QueueFull,
                format!(
                    "{} jobs are already waiting; try again when some have finished",
                    q.waiting.len()
                ),
            ));
        }
        q.waiting_bytes += bytes;
        q.waiting.push((job, bytes));
        self.ready.notify_all();
        Ok(())
    }

    /// Queues a stream frame; a frame of the same stream still waiting is taken out and returned.
    pub fn push_frame(&self, job: Arc<JobState>) -> Option<Arc<JobState>> {
        let mut q = self.queues.lock();
        let key = job.stream_key();
        let replaced = q
            .waiting
            .iter()
            .position(|(j, _)| key.is_some() && j.stream_key() == key)
            .map(|i| Self::take(&mut q, i));
        q.waiting.push((job, 0));
        self.ready.notify_all();
        replaced
    }

    /// Blocks until a job for `plugin` is waiting and returns the best one; `None` on shutdown.
    pub fn pop(&self, plugin: &str) -> Option<Arc<JobState>> {
        let mut q = self.queues.lock();
        loop {
            if q.shutdown {
                return None;
            }
            let best = q
                .waiting
                .iter()
                .enumerate()
                .filter(|(_, (j, _))| j.plugin == plugin)
                .min_by_key(|(_, (j, _))| (j.priority, j.id))
                .map(|(i, _)| i);
            if let Some(i) = best {
                q.running += 1;
                return Some(Self::take(&mut q, i));
            }
            self.ready.wait(&mut q);
        }
    }

    /// Marks a popped job as no longer running.
    pub fn done(&self) {
        let mut q = self.queues.lock();
        q.running = q.running.saturating_sub(1);
    }

    /// Takes a waiting job out of the queue (for cancel); `None` if it is not waiting.
    pub fn remove(&self, job_id: u64) -> Option<Arc<JobState>> {
        let mut q = self.queues.lock();
        let i = q.waiting.iter().position(|(j, _)| j.id == job_id)?;
        Some(Self::take(&mut q, i))
    }

    /// (waiting, running)
    pub fn counts(&self) -> (usize, usize) {
        let q = self.queues.lock();
        (q.waiting.len(), q.running)
    }

    pub fn shutdown(&self) {
        self.queues.lock().shutdown = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::JobState;
    use easel_protocol::Priority;

    fn job(id: u64, plugin: &str, priority: Priority, stream: Option<(u64, u64)>) -> Arc<JobState> {
        Arc::new(JobState::for_test(id, plugin, priority, stream, 0))
    }

    #[test]
    fn the_queue_is_bounded_by_bytes_as_well_as_by_count() {
        let s = Scheduler::new(100, 1000);
        let big = |id| Arc::new(JobState::for_test(id, "p", Priority::Batch, None, 600));
        s.push(big(1)).unwrap();
        let err = s.push(big(2)).unwrap_err();
        assert_eq!(err.code, Code::QueueFull);
        assert!(err.message.contains("MiB"), "{err}");
        // A job over the budget alone is still admitted into an empty queue (else it never runs).
        assert_eq!(s.pop("p").unwrap().id, 1);
        s.push(Arc::new(JobState::for_test(
            3,
            "p",
            Priority::Batch,
            None,
            5000,
        )))
        .unwrap();
        assert!(s.push(big(4)).is_err());
        assert_eq!(s.remove(3).unwrap().id, 3);
        s.push(big(4)).unwrap();
    }

    #[test]
    fn interactive_jobs_go_first_then_fifo() {
        let s = Scheduler::new(10, u64::MAX);
        s.push(job(1, "p", Priority::Batch, None)).unwrap();
        s.push(job(2, "p", Priority::Batch, None)).unwrap();
        s.push(job(3, "p", Priority::Interactive, None)).unwrap();
        s.push(job(4, "q", Priority::Interactive, None)).unwrap();
        assert_eq!(s.pop("p").unwrap().id, 3);
        assert_eq!(s.pop("p").unwrap().id, 1);
        assert_eq!(s.pop("q").unwrap().id, 4);
        assert_eq!(s.pop("p").unwrap().id, 2);
        assert_eq!(s.counts(), (0, 4));
    }

    #[test]
    fn a_waiting_frame_is_replaced_by_the_next_one() {
        let s = Scheduler::new(10, u64::MAX);
        assert!(s
            .push_frame(job(1, "p", Priority::Interactive, Some((7, 1))))
            .is_none());
        let replaced = s
            .push_frame(job(2, "p", Priority::Interactive, Some((7, 1))))
            .unwrap();
        assert_eq!(replaced.id, 1);
        // Another stream's frame does not replace it.
        assert!(s
            .push_frame(job(3, "p", Priority::Interactive, Some((8, 1))))
            .is_none());
        assert_eq!(s.counts().0, 2);
    }

    #[test]
    fn full_queue_refuses_and_cancel_removes() {
        let s = Scheduler::new(2, u64::MAX);
        s.push(job(1, "p", Priority::Batch, None)).unwrap();
        s.push(job(2, "p", Priority::Batch, None)).unwrap();
        assert_eq!(
            s.push(job(3, "p", Priority::Batch, None)).unwrap_err().code,
            Code::QueueFull
        );
        assert_eq!(s.remove(1).unwrap().id, 1);
        assert!(s.remove(1).is_none());
        s.shutdown();
        assert!(s.pop("nobody").is_none());
    }
}
