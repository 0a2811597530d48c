//! The HTTP call, on a thread of its own: the job's thread waits for it while polling the host's
//! cancel flag, and abandons it on cancel (the call ends by itself at the time-out).

use crate::config::Secret;
use crate::provider::HttpRequest;
use easel_sdk::PluginError;
use std::{
    io::ErrorKind as IoKind,
    sync::mpsc,
    time::{Duration, Instant},
};

/// Answers larger than this are refused (a 4096² PNG in base64 is far below it).
pub const MAX_ANSWER_BYTES: u64 = 64 << 20;
/// How often the waiting thread looks at the cancel flag.
const POLL: Duration = Duration::from_millis(50);

/// Status and body of a complete answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

fn blocking_call(
    req: &HttpRequest,
    timeout: Duration,
    max_answer: u64,
    service: &str,
    key: &Secret,
) -> Result<Answer, PluginError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(timeout.min(Duration::from_secs(15))))
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let host = host_of(&req.url);
    let seconds = timeout.as_secs_f64();
    let failed = |e: ureq::Error| -> PluginError {
        let said = key.redact(&e.to_string());
        match &e {
            ureq::Error::Timeout(_) => PluginError::environment(format!(
                "{service} at {host} did not answer within {seconds:.0} s (timeout_s in \
                 generative.toml); nothing came back"
            )),
            ureq::Error::BodyExceedsLimit(_) => PluginError::limits(format!(
                "{service} sent an answer larger than {} MB; refused",
                max_answer >> 20
            )),
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => PluginError::environment(
                format!("cannot reach {service} at {host} ({said}): is the network down?"),
            ),
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    IoKind::ConnectionRefused | IoKind::AddrNotAvailable | IoKind::NotConnected
                ) =>
            {
                PluginError::environment(format!(
                    "cannot reach {service} at {host} ({said}): is the network down?"
                ))
            }
            ureq::Error::Io(io) if io.kind() == IoKind::TimedOut => PluginError::environment(
                format!("{service} at {host} did not answer within {seconds:.0} s"),
            ),
            _ => {
                PluginError::environment(format!("the call to {service} at {host} failed: {said}"))
            }
        }
    };
    let mut response = agent
        .post(&req.url)
        .header(req.secret_header.0, &req.secret_header.1)
        .header("Content-Type", &req.content_type)
        .send(&req.body[..])
        .map_err(failed)?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(max_answer)
        .read_to_vec()
        .map_err(failed)?;
    Ok(Answer { status, body })
}

/// Sends `req` and waits for the whole answer, polling `cancelled` meanwhile and calling
/// `waiting` with the seconds spent about once a second.
pub fn send(
    req: HttpRequest,
    timeout: Duration,
    max_answer: u64,
    service: &'static str,
    key: &Secret,
    cancelled: &dyn Fn() -> bool,
    waiting: &dyn Fn(f64),
) -> Result<Answer, PluginError> {
    let (tx, rx) = mpsc::channel();
    let thread_key = key.clone();
    std::thread::Builder::new()
        .name("generative-http".into())
        .spawn(move || {
            let answer = blocking_call(&req, timeout, max_answer, service, &thread_key);
            // The receiver is gone when the job was cancelled: nobody wants the answer.
            let _ = tx.send(answer);
        })
        .map_err(|e| PluginError::environment(format!("cannot start the HTTP thread: {e}")))?;
    let start = Instant::now();
    let mut last_report = 0u64;
    // The thread's own time-out ends the call; the margin covers a thread that never returns.
    let deadline = start + timeout + Duration::from_secs(5);
    loop {
        if cancelled() {
            return Err(PluginError::cancelled());
        }
        match rx.recv_timeout(POLL) {
            Ok(answer) => return answer,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let secs = start.elapsed().as_secs();
                if secs > last_report {
                    last_report = secs;
                    waiting(start.elapsed().as_secs_f64());
                }
                if Instant::now() > deadline {
                    return Err(PluginError::environment(format!(
                        "{service} did not answer within {:.0} s",
                        timeout.as_secs_f64()
                    )));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(PluginError::plugin(
                    "the HTTP thread ended without an answer",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_sdk::ErrorKind;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn request(url: String) -> HttpRequest {
        HttpRequest {
            url,
            content_type: "application/json".into(),
            body: b"{}".to_vec(),
            secret_header: ("x-goog-api-key", "k-123456".into()),
        }
    }

    /// Accepts one connection, reads the request, then either answers `reply` or holds the
    /// connection open until `release` is set.
    fn server(reply: Option<Vec<u8>>, release: Arc<AtomicBool>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            match reply {
                Some(r) => {
                    let _ = s.write_all(&r);
                }
                None => {
                    while !release.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        });
        format!("http://{addr}/x")
    }

    #[test]
    fn a_cancel_ends_the_wait_while_the_call_is_in_flight() {
        let release = Arc::new(AtomicBool::new(false));
        let url = server(None, release.clone());
        let polls = std::cell::Cell::new(0);
        let err = send(
            request(url),
            Duration::from_secs(60),
            MAX_ANSWER_BYTES,
            "svc",
            &Secret::new("k-123456"),
            &|| {
                polls.set(polls.get() + 1);
                polls.get() > 3
            },
            &|_| {},
        )
        .unwrap_err();
        release.store(true, Ordering::SeqCst);
        assert_eq!(err.kind, ErrorKind::Cancelled);
        assert_eq!(polls.get(), 4);
    }

    #[test]
    fn time_outs_refused_connections_and_big_answers_are_clear() {
        let release = Arc::new(AtomicBool::new(false));
        let url = server(None, release.clone());
        let err = send(
            request(url),
            Duration::from_millis(300),
            MAX_ANSWER_BYTES,
            "svc",
            &Secret::new("k-123456"),
            &|| false,
            &|_| {},
        )
        .unwrap_err();
        release.store(true, Ordering::SeqCst);
        assert_eq!(err.kind, ErrorKind::Environment);
        assert!(err.message.contains("did not answer"), "{err}");

        // A port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = send(
            request(format!("http://127.0.0.1:{port}/x")),
            Duration::from_secs(5),
            MAX_ANSWER_BYTES,
            "svc",
            &Secret::new("k-123456"),
            &|| false,
            &|_| {},
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Environment);
        assert!(err.message.contains("cannot reach svc"), "{err}");

        let big = vec![b'a'; 5000];
        let mut reply =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", big.len()).into_bytes();
        reply.extend_from_slice(&big);
        let url = server(Some(reply), Arc::new(AtomicBool::new(true)));
        let err = send(
            request(url),
            Duration::from_secs(5),
            1000,
            "svc",
            &Secret::new("k-123456"),
            &|| false,
            &|_| {},
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Limits, "{err}");
    }
}
