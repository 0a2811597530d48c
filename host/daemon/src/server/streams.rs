//! Streaming sessions: settings kept per (connection, stream), each frame a job of interactive
//! priority where the newest frame supersedes one still waiting.

use super::Daemon;
use crate::{connection::Connection, intake::prepare, jobs::JobState};
use easel_ipc::Frame;
use easel_protocol::{
    params::resolve_params, Code, Priority, ProtocolError, ServerMessage, StreamFrame, StreamOpen,
    Submit,
};
use std::sync::Arc;

fn unknown_stream(stream: u64) -> ProtocolError {
    ProtocolError::new(
        Code::UnknownJob,
        format!("no stream {stream} on this connection"),
    )
}

impl Daemon {
    pub(super) fn stream_open(&self, conn: &Arc<Connection>, open: StreamOpen) {
        let settings = open.settings;
        let result = match self.ops.get(&settings.operation) {
            Some(op) => resolve_params(op, &settings.params).map(|_| ()),
            None => Err(self.unknown_operation(&settings.operation)),
        };
        match result {
            Ok(()) => {
                let stream = self.next_id();
                self.streams.lock().insert((conn.id, stream), settings);
                conn.send(ServerMessage::StreamOpened {
                    reply_to: open.id,
                    stream,
                });
            }
            Err(e) => conn.send_error(&e, open.id, None),
        }
    }

    pub(super) fn stream_frame(&self, conn: &Arc<Connection>, f: StreamFrame, frame: &Frame) {
        let (stream, seq) = (f.stream, f.seq);
        let frame_error = |e: ProtocolError| {
            conn.send(ServerMessage::FrameError {
                stream,
                seq,
                code: e.code,
                fault: e.fault(),
                message: e.message,
            });
        };
        let Some(s) = self.streams.lock().get(&(conn.id, stream)).cloned() else {
            return frame_error(unknown_stream(stream));
        };
        let Some(op) = self.ops.get(&s.operation) else {
            return frame_error(self.unknown_operation(&s.operation));
        };
        let req = Submit {
            id: None,
            operation: s.operation,
            params: s.params,
            image: f.image,
            mask: f.mask,
            references: Vec::new(),
            mask_modifiers: s.mask_modifiers,
            context_margin: s.context_margin,
            priority: Priority::Interactive,
            result_format: None,
            name: None,
        };
        let work = match prepare(op, &req, frame, &self.intake()) {
            Ok(w) => w,
            Err(e) => return frame_error(e),
        };
        let id = self.next_id();
        let job = Arc::new(JobState::new(
            id,
            &req.operation,
            &op.plugin,
            Priority::Interactive,
            Some((stream, seq)),
            conn,
            work,
        ));
        conn.jobs.lock().insert(id, job.clone());
        if let Some(old) = self.scheduler.push_frame(job) {
            conn.jobs.lock().remove(&old.id);
            if let Some((s, old_seq)) = old.stream {
                conn.send(ServerMessage::FrameDropped {
                    stream: s,
                    seq: old_seq,
                    reason: "superseded".into(),
                });
            }
        }
    }

    pub(super) fn stream_close(&self, conn: &Arc<Connection>, id: Option<u64>, stream: u64) {
        if self.streams.lock().remove(&(conn.id, stream)).is_none() {
            return conn.send_error(&unknown_stream(stream), id, None);
        }
        let waiting: Vec<_> = conn
            .jobs
            .lock()
            .values()
            .filter(|j| j.stream.map(|s| s.0) == Some(stream))
            .cloned()
            .collect();
        for j in waiting {
            self.cancel_job(&j);
        }
        conn.send(ServerMessage::StreamClosed {
            reply_to: id,
            stream,
        });
    }
}
