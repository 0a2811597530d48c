//! A client connection's outgoing side: one writer thread per connection, fed by a bounded
//! channel, so a client that stops reading never stalls a worker or another client's job. A
//! client that lets its queue fill is disconnected (its jobs are then cancelled); progress
//! events are dropped first, well before that.

use crate::jobs::{JobState, SharedImage};
use easel_ipc::TransportError;
use easel_protocol::{DataRef, ImageRef, ProtocolError, ServerMessage};
use parking_lot::Mutex;
use std::{
    collections::HashMap,
    os::unix::net::UnixStream,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc, Arc,
    },
};

/// Messages a connection may have waiting to be written before it counts as not reading.
pub const OUTGOING_CAPACITY: usize = 1024;
/// Past this many waiting messages, progress events are dropped (they are superseded anyway).
const LOSSY_THRESHOLD: usize = 64;

enum Outgoing {
    Message(ServerMessage),
    /// A message whose image (in shared memory) is attached as a descriptor or inline.
    WithImage(ServerMessage, Arc<SharedImage>),
}

/// A client connection, shared by its reader thread and the workers that report to it.
pub struct Connection {
    pub id: u64,
    tx: mpsc::SyncSender<Outgoing>,
    waiting: Arc<AtomicUsize>,
    /// The client accepts descriptors (its hello listed `fd`).
    fd_ok: Arc<AtomicBool>,
    /// To close the connection when its client stops reading.
    socket: UnixStream,
    closed: AtomicBool,
    pub jobs: Mutex<HashMap<u64, Arc<JobState>>>,
}

impl Connection {
    /// A connection writing to `stream` from a thread of its own.
    pub fn new(id: u64, stream: &UnixStream) -> std::io::Result<Arc<Self>> {
        let writer = stream.try_clone()?;
        let socket = stream.try_clone()?;
        let (tx, rx) = mpsc::sync_channel(OUTGOING_CAPACITY);
        let waiting = Arc::new(AtomicUsize::new(0));
        let fd_ok = Arc::new(AtomicBool::new(false));
        {
            let waiting = waiting.clone();
            let fd_ok = fd_ok.clone();
            std::thread::Builder::new()
                .name(format!("easeld-conn-{id}-writer"))
                .spawn(move || write_loop(id, writer, rx, &waiting, &fd_ok))?;
        }
        Ok(Arc::new(Connection {
            id,
            tx,
            waiting,
            fd_ok,
            socket,
            closed: AtomicBool::new(false),
            jobs: Mutex::new(HashMap::new()),
        }))
    }

    pub fn set_fd_ok(&self, ok: bool) {
        self.fd_ok.store(ok, Ordering::Relaxed);
    }

    fn enqueue(&self, out: Outgoing) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.tx.try_send(out) {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            if matches!(e, mpsc::TrySendError::Full(_)) {
                log::warn!(
                    "connection {}: the client stopped reading ({OUTGOING_CAPACITY} messages waiting); closing it",
                    self.id
                );
            }
            self.close();
        }
    }

    /// Closes the socket both ways: the reader thread then ends and cancels this client's jobs.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::Relaxed) {
            let _ = self.socket.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Queues a message for the client; never blocks.
    pub fn send(&self, msg: ServerMessage) {
        self.enqueue(Outgoing::Message(msg));
    }

    /// Queues an event that a later one supersedes (progress): dropped when the client is behind.
    pub fn send_lossy(&self, msg: ServerMessage) {
        if self.waiting.load(Ordering::Relaxed) < LOSSY_THRESHOLD {
            self.send(msg);
        }
    }

    /// Queues `msg` with `image` attached (as a descriptor when the client takes them).
    pub fn send_with_image(&self, msg: ServerMessage, image: Arc<SharedImage>) {
        self.enqueue(Outgoing::WithImage(msg, image));
    }

    /// Waits (at most `timeout`) until everything queued has been written.
    pub fn flush(&self, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while self.waiting.load(Ordering::Relaxed) > 0
            && !self.closed.load(Ordering::Relaxed)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    pub fn send_error(&self, err: &ProtocolError, reply_to: Option<u64>, job: Option<u64>) {
        self.send(ServerMessage::Error(err.to_message(reply_to, job)));
    }
}

fn write_loop(
    id: u64,
    sock: UnixStream,
    rx: mpsc::Receiver<Outgoing>,
    waiting: &AtomicUsize,
    fd_ok: &AtomicBool,
) {
    while let Ok(out) = rx.recv() {
        let result = match out {
            Outgoing::Message(msg) => easel_ipc::send(&sock, &msg, &[], &[]),
            Outgoing::WithImage(msg, image) => write_with_image(&sock, msg, &image, fd_ok),
        };
        waiting.fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(()) => {}
            Err(TransportError::Closed) => break,
            Err(e) => {
                log::debug!("connection {id}: send failed: {e}");
                break;
            }
        }
    }
    // Whatever is still queued is dropped with the receiver (descriptors closed).
}

fn write_with_image(
    sock: &UnixStream,
    msg: ServerMessage,
    image: &SharedImage,
    fd_ok: &AtomicBool,
) -> Result<(), TransportError> {
    if fd_ok.load(Ordering::Relaxed) {
        let msg = msg.with_image(ImageRef::new(
            &image.layout,
            DataRef::Fd { fd: 0, offset: 0 },
        ));
        easel_ipc::send(sock, &msg, &[], &[image.mem.fd()])
    } else {
        let msg = msg.with_image(ImageRef::new(&image.layout, DataRef::Inline { inline: 0 }));
        easel_ipc::send(sock, &msg, &image.mem.as_slice()[..image.byte_len()], &[])
    }
}
