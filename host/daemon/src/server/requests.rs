//! Requests about jobs: submit (through the pure `intake::prepare`), cancel, and the transport
//! echo, plus the message that lists what exists when an operation does not.

use super::Daemon;
use crate::{
    connection::Connection,
    intake::prepare,
    jobs::{JobState, SharedImage},
    supervisor::LoadOutcome,
};
use easel_ipc::{resolve_image, Frame};
use easel_protocol::{Code, ImageLayout, ProtocolError, ServerMessage, Submit};
use std::sync::Arc;

impl Daemon {
    pub(super) fn unknown_operation(&self, name: &str) -> ProtocolError {
        let refused: Vec<String> = self
            .plugins
            .iter()
            .filter_map(|p| match &p.outcome {
                LoadOutcome::Refused(r) => Some(format!("{} ({r})", p.path.display())),
                _ => None,
            })
            .collect();
        let mut known: Vec<&str> = self.ops.keys().map(String::as_str).collect();
        known.sort();
        let mut message = format!("no operation '{name}'; available: {}", known.join(", "));
        if !refused.is_empty() {
            message.push_str(&format!("; refused plugins: {}", refused.join("; ")));
        }
        ProtocolError::new(Code::UnknownOperation, message)
    }

    pub(super) fn job_of(&self, conn: &Connection, job: u64) -> Option<Arc<JobState>> {
        conn.jobs.lock().get(&job).cloned()
    }

    pub(super) fn cancel_job(&self, job: &Arc<JobState>) {
        job.mark_cancelled();
        if let Some(j) = self.scheduler.remove(job.id) {
            j.finish(Err(ProtocolError::cancelled()));
        }
    }

    pub(super) fn submit(
        &self,
        conn: &Arc<Connection>,
        req: &Submit,
        frame: &Frame,
    ) -> Result<(), ProtocolError> {
        let op = self
            .ops
            .get(&req.operation)
            .ok_or_else(|| self.unknown_operation(&req.operation))?;
        let work = prepare(op, req, frame, &self.intake())?;
        let id = self.next_id();
        let job = Arc::new(JobState::new(
            id,
            &req.operation,
            &op.plugin,
            req.priority,
            None,
            conn,
            work,
        ));
        conn.jobs.lock().insert(id, job.clone());
        if let Err(e) = self.scheduler.push(job) {
            conn.jobs.lock().remove(&id);
            return Err(e);
        }
        conn.send(ServerMessage::Accepted {
            reply_to: req.id,
            job: id,
        });
        Ok(())
    }

    /// The pixels of `r`, copied tightly packed into shared memory (transport checks).
    pub(super) fn echo(
        &self,
        r: &easel_protocol::ImageRef,
        frame: &Frame,
    ) -> Result<SharedImage, ProtocolError> {
        let (layout, bytes) = resolve_image(r, frame, self.config.limits.max_pixels, "image")?;
        let view = easel_imaging::ImageView::new(layout, &bytes)
            .map_err(|e| ProtocolError::invalid_image(e.to_string()))?;
        let packed = ImageLayout::packed(layout.width, layout.height, layout.format);
        let len = packed.required_len().unwrap_or(0);
        let copy;
        let pixels = match bytes.get(..len) {
            Some(p) if layout.is_packed() => p,
            _ => {
                copy = easel_imaging::convert(&view, layout.format);
                &copy.data[..]
            }
        };
        let mem = easel_ipc::SharedMem::from_bytes(pixels)
            .map_err(|e| ProtocolError::internal(format!("cannot allocate shared memory: {e}")))?;
        Ok(SharedImage {
            layout: packed,
            mem,
        })
    }
}
