//! One client connection: the hello, then every request routed to the daemon, until the client
//! leaves (its unfinished jobs and streams end with it).

use super::Daemon;
use crate::{connection::Connection, supervisor::PluginRecord};
use easel_ipc::{read_frame, Frame, TransportError};
use easel_protocol::{
    Code, Envelope, Feature, HelloReply, Limits, ProtocolError, Request, ServerMessage,
    PROTOCOL_VERSION, SERVER_FEATURES,
};
use std::{
    os::unix::net::UnixStream,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

pub(super) fn unknown_job(job: u64) -> ProtocolError {
    ProtocolError::new(
        Code::UnknownJob,
        format!("no job {job} on this connection (finished and fetched, or never submitted here)"),
    )
}

impl Daemon {
    /// One client connection, from hello to close.
    pub(super) fn serve(self: Arc<Self>, stream: UnixStream) {
        self.connections.fetch_add(1, Ordering::SeqCst);
        self.serve_connection(stream);
        self.connections.fetch_sub(1, Ordering::SeqCst);
    }

    fn serve_connection(&self, stream: UnixStream) {
        let conn = match Connection::new(self.next_id(), &stream) {
            Ok(c) => c,
            Err(e) => {
                log::warn!("cannot serve a connection: {e}");
                return;
            }
        };
        if self.handshake(&stream, &conn) {
            loop {
                match read_frame(&stream, self.frame_limits()) {
                    Ok(frame) => self.handle(&conn, frame),
                    Err(TransportError::Closed) => break,
                    Err(
                        e @ (TransportError::TooLarge { .. }
                        | TransportError::TooManyDescriptors { .. }),
                    ) => {
                        // The rest of that frame is still in the socket: we cannot resynchronise.
                        conn.send_error(&e.into(), None, None);
                        break;
                    }
                    Err(e) => {
                        log::debug!("connection {}: {e}", conn.id);
                        break;
                    }
                }
            }
        }
        // A client that left does not want its unfinished jobs.
        let jobs: Vec<_> = conn.jobs.lock().drain().map(|(_, j)| j).collect();
        for job in jobs {
            self.cancel_job(&job);
        }
        self.streams
            .lock()
            .retain(|(owner, _), _| *owner != conn.id);
        conn.flush(Duration::from_secs(1));
        conn.close();
    }

    fn handshake(&self, stream: &UnixStream, conn: &Arc<Connection>) -> bool {
        let frame = match read_frame(stream, self.frame_limits()) {
            Ok(f) => f,
            Err(
                e @ (TransportError::TooLarge { .. } | TransportError::TooManyDescriptors { .. }),
            ) => {
                conn.send_error(&e.into(), None, None);
                conn.flush(Duration::from_secs(1));
                return false;
            }
            Err(_) => return false,
        };
        let refuse = |err: ProtocolError| {
            conn.send_error(
                &err,
                frame.parse::<Envelope>().ok().and_then(|e| e.id),
                None,
            );
            conn.flush(Duration::from_secs(1));
            false
        };
        match frame.parse_request() {
            Ok(Request::Hello(hello)) => {
                if hello.protocol != PROTOCOL_VERSION {
                    return refuse(ProtocolError::new(
                        Code::UnsupportedProtocol,
                        format!(
                            "this daemon speaks protocol {PROTOCOL_VERSION}, the client asked for {}",
                            hello.protocol
                        ),
                    ));
                }
                conn.set_fd_ok(hello.features.contains(&Feature::Fd));
                log::debug!("connection {}: hello from '{}'", conn.id, hello.client);
                let l = &self.config.limits;
                conn.send(ServerMessage::Hello(HelloReply {
                    protocol: PROTOCOL_VERSION,
                    server: format!("easeld/{}", env!("CARGO_PKG_VERSION")),
                    features: SERVER_FEATURES.to_vec(),
                    limits: Limits {
                        max_pixels: l.max_pixels,
                        max_message_bytes: l.max_message_bytes,
                        max_inline_bytes: l.max_inline_bytes,
                    },
                }));
                true
            }
            Ok(_) => refuse(ProtocolError::bad_request(
                "the first message must be a hello",
            )),
            Err(e) => {
                let envelope = frame.parse::<Envelope>().unwrap_or_default();
                let is_hello = envelope.kind.as_deref() == Some("hello");
                match &envelope.protocol {
                    // The version is what matters first, whatever else the hello lacks.
                    Some(p) if is_hello && p.as_u64() != Some(PROTOCOL_VERSION.into()) => {
                        refuse(ProtocolError::new(
                            Code::UnsupportedProtocol,
                            format!(
                                "this daemon speaks protocol {PROTOCOL_VERSION} (an integer), the client asked for {p}"
                            ),
                        ))
                    }
                    _ if is_hello => refuse(ProtocolError::bad_request(format!("bad hello: {e}"))),
                    _ => refuse(ProtocolError::bad_request(format!(
                        "the first message must be a hello; got {}",
                        describe_bad_request(&frame, &e)
                    ))),
                }
            }
        }
    }

    pub(super) fn handle(&self, conn: &Arc<Connection>, frame: Frame) {
        let request = match frame.parse_request() {
            Ok(r) => r,
            Err(e) => {
                let id = frame.parse::<Envelope>().ok().and_then(|e| e.id);
                conn.send_error(
                    &ProtocolError::bad_request(describe_bad_request(&frame, &e)),
                    id,
                    None,
                );
                return;
            }
        };
        let id = request.id();
        match request {
            Request::Hello(_) => conn.send_error(
                &ProtocolError::bad_request("hello was already received on this connection"),
                id,
                None,
            ),
            Request::ListOperations { .. } => conn.send(ServerMessage::Operations {
                reply_to: id,
                operations: self.listed.clone(),
                plugins: self.plugins.iter().map(PluginRecord::status).collect(),
            }),
            Request::Submit(req) => {
                if let Err(e) = self.submit(conn, &req, &frame) {
                    conn.send_error(&e, id, None);
                }
            }
            // Look the job up before acting: finishing a job takes the jobs lock again.
            Request::Fetch { job, .. } => match self.job_of(conn, job) {
                Some(j) => j.fetch(conn, id),
                None => conn.send_error(&unknown_job(job), id, Some(job)),
            },
            Request::Cancel { job, .. } => match self.job_of(conn, job) {
                Some(j) => {
                    conn.send(ServerMessage::Cancelling { reply_to: id, job });
                    self.cancel_job(&j);
                }
                None => conn.send_error(&unknown_job(job), id, Some(job)),
            },
            Request::Status { .. } => {
                let (queued, running) = self.scheduler.counts();
                conn.send(ServerMessage::Status {
                    reply_to: id,
                    queued,
                    running,
                    socket: self.socket.display().to_string(),
                    warming: self.warming.load(Ordering::SeqCst),
                });
            }
            Request::Echo { image, .. } => match self.echo(&image, &frame) {
                Ok(shared) => conn.send_with_image(
                    ServerMessage::Echo {
                        reply_to: id,
                        image: shared.wire_ref(0),
                    },
                    Arc::new(shared),
                ),
                Err(e) => conn.send_error(&e, id, None),
            },
            Request::StreamOpen(open) => self.stream_open(conn, open),
            Request::StreamFrame(f) => self.stream_frame(conn, f, &frame),
            Request::StreamClose { stream, .. } => self.stream_close(conn, id, stream),
            Request::Shutdown { .. } => {
                conn.send(ServerMessage::ShuttingDown { reply_to: id });
                conn.flush(Duration::from_secs(1));
                self.stop_accepting();
            }
        }
    }
}

/// Says what is wrong with a request that did not parse, in the client's terms.
fn describe_bad_request(frame: &Frame, err: &TransportError) -> String {
    if let TransportError::Malformed(_) = err {
        return err.to_string();
    }
    let envelope = match frame.parse::<Envelope>() {
        Ok(e) => e,
        Err(_) if matches!(err, TransportError::Message(_)) => return err.to_string(),
        Err(e) => return format!("the message is not an object with a \"type\": {e}"),
    };
    match envelope.kind.as_deref() {
        None => "the message has no \"type\" (a string)".to_string(),
        Some(t) if !Request::TYPES.contains(&t) => format!(
            "unknown message type '{t}'; known: {}",
            Request::TYPES.join(", ")
        ),
        Some(t) => format!("bad '{t}' request: {err}"),
    }
}
