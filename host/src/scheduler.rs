//! The job queue: interactive jobs before batch jobs, FIFO within a priority, and latest-wins
//! slots for video streams (a frame still waiting is replaced by the next one, never queued).

use crate::{
    error::{Code, ProtocolError},
    jobs::JobState,
};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;

#[derive(Default)]
struct Queues {
    waiting: Vec<Arc<JobState>>,
    running: usize,
    shutdown: bool,
}

/// One queue for all plugins; each plugin's workers take the best job for their plugin.
pub struct Scheduler {
    queues: Mutex<Queues>,
    ready: Condvar,
    max_queued: usize,
}

impl Scheduler {
    pub fn new(max_queued: usize) -> Self {
        Scheduler {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
            max_queued,
        }
    }

    /// Queues a job, or refuses it when the queue is full.
    pub fn push(&self, job: Arc<JobState>) -> Result<(), ProtocolError> {
        let mut q = self.queues.lock();
        if q.waiting.len() >= self.max_queued {
            return Err(ProtocolError::new(
                Code::QueueFull,
                format!(
                    "{} jobs are already waiting; try again when some have finished",
                    q.waiting.len()
                ),
            ));
        }
        q.waiting.push(job);
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
            .position(|j| key.is_some() && j.stream_key() == key)
            .map(|i| q.waiting.remove(i));
        q.waiting.push(job);
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
                .filter(|(_, j)| j.plugin == plugin)
                .min_by_key(|(_, j)| (j.priority, j.id))
                .map(|(i, _)| i);
            if let Some(i) = best {
                q.running += 1;
                return Some(q.waiting.remove(i));
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
        let i = q.waiting.iter().position(|j| j.id == job_id)?;
        Some(q.waiting.remove(i))
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
    use crate::{jobs::JobState, protocol::Priority};

    fn job(id: u64, plugin: &str, priority: Priority, stream: Option<(u64, u64)>) -> Arc<JobState> {
        Arc::new(JobState::for_test(id, plugin, priority, stream))
    }

    #[test]
    fn interactive_jobs_go_first_then_fifo() {
        let s = Scheduler::new(10);
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
        let s = Scheduler::new(10);
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
        let s = Scheduler::new(2);
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
