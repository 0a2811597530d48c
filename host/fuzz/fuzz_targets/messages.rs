//! Every message parser: client requests (as the daemon reads them), server messages (as the
//! client reads them), and both directions of the worker wire. What parses must serialise and
//! parse again.
#![no_main]
use easel_ipc::Frame;
use easel_protocol::worker::{FromWorker, ToWorker};
use easel_protocol::{Envelope, Request, ServerMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = Frame {
        json: data.to_vec(),
        payload: Vec::new(),
        fds: Vec::new(),
    };
    let _ = frame.parse::<Envelope>();
    if let Ok(r) = frame.parse_request() {
        let json = serde_json::to_vec(&r).expect("a request serialises");
        serde_json::from_slice::<Request>(&json).expect("a serialised request parses");
    }
    if let Ok(m) = frame.parse::<ServerMessage>() {
        let json = serde_json::to_vec(&m).expect("a server message serialises");
        serde_json::from_slice::<ServerMessage>(&json).expect("a serialised message parses");
    }
    if let Ok(m) = frame.parse::<ToWorker>() {
        let json = serde_json::to_vec(&m).expect("serialises");
        serde_json::from_slice::<ToWorker>(&json).expect("parses");
    }
    if let Ok(m) = frame.parse::<FromWorker>() {
        let json = serde_json::to_vec(&m).expect("serialises");
        serde_json::from_slice::<FromWorker>(&json).expect("parses");
    }
});
