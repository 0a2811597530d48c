//! The generative plugin through the real daemon against a local HTTP server on 127.0.0.1 that
//! speaks the two providers' documented wire formats (Gemini `generateContent`, OpenAI images
//! `edits`/`generations`) and their error bodies: what the plugin sends (prompt, images, mask,
//! references, prior turn, key only in its header), real PNG answers, refusals, quotas, bad
//! keys, time-outs, cancellation mid-request, malformed and oversized answers, and nothing sent
//! without a configuration. Nothing here talks to the live services.

use easel_client::ClientError;
use easel_protocol::Code;
use easel_tests::*;
use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Standard base64 (RFC 4648, padded), as both services use it.
mod b64 {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(data: &[u8]) -> String {
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let text = text.trim_end_matches('=');
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in text.bytes() {
            let v = ABC.iter().position(|&a| a == c)? as u32;
            acc = acc << 6 | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits & 0xff) as u8);
            }
        }
        Some(out)
    }
}

const GEMINI_KEY: &str = "AIzaTEST-gemini-key-0123456789";
const OPENAI_KEY: &str = "sk-TEST-openai-key-0123456789";

// ---------------------------------------------------------------------------------------------
// The local server.

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// How the server answers.
#[derive(Clone)]
enum Reply {
    /// A well-formed success in the provider's format with a PNG of this size and colour.
    Image(u32, u32, [u8; 4]),
    /// Status and JSON body as given.
    Status(u16, Value),
    /// Raw bytes (status line included).
    Raw(Vec<u8>),
    /// A 200 whose body is `n` bytes long.
    Huge(usize),
    /// Read the request, then say nothing until the test ends.
    Hang,
}

#[derive(Clone, Copy, PartialEq)]
enum Wire {
    Gemini,
    OpenAi,
}

struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    reply: Arc<Mutex<Reply>>,
}

fn png(w: u32, h: u32, color: [u8; 4]) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(w, h, image::Rgba(color));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn decode_png(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory(bytes)
        .expect("the plugin sent a decodable image")
        .to_rgba8()
}

fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = header("content-length") {
        body.resize(len.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(Seen {
        path,
        headers,
        body,
    })
}

fn respond(stream: &mut TcpStream, status: u16, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// Checks a request the way the service would, answering its documented error when wrong.
fn check(wire: Wire, seen: &Seen) -> Option<(u16, Value)> {
    match wire {
        Wire::Gemini => {
            if seen.header("x-goog-api-key") != Some(GEMINI_KEY) {
                return Some((
                    400,
                    json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                        "status": "INVALID_ARGUMENT",
                        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}),
                ));
            }
            if !seen.path.starts_with("/v1beta/models/") || !seen.path.ends_with(":generateContent")
            {
                return Some((
                    404,
                    json!({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}),
                ));
            }
            let v: Value = serde_json::from_slice(&seen.body).ok()?;
            let ok = v["contents"].as_array().is_some_and(|c| {
                c.iter().all(|turn| {
                    matches!(turn["role"].as_str(), Some("user" | "model"))
                        && turn["parts"].as_array().is_some_and(|parts| {
                            parts.iter().all(|p| {
                                p["text"].is_string()
                                    || (p["inlineData"]["mimeType"] == "image/png"
                                        && p["inlineData"]["data"]
                                            .as_str()
                                            .and_then(b64::decode)
                                            .is_some_and(|b| image::load_from_memory(&b).is_ok()))
                            })
                        })
                })
            });
            (!ok).then(|| {
                (
                    400,
                    json!({"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}}),
                )
            })
        }
        Wire::OpenAi => {
            if seen.header("authorization") != Some(&format!("Bearer {OPENAI_KEY}")) {
                return Some((
                    401,
                    json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
                ));
            }
            let ok = match seen.path.as_str() {
                "/v1/images/edits" => seen
                    .header("content-type")
                    .is_some_and(|c| c.starts_with("multipart/form-data; boundary=")),
                "/v1/images/generations" => serde_json::from_slice::<Value>(&seen.body)
                    .is_ok_and(|v| v["prompt"].is_string()),
                _ => false,
            };
            (!ok).then(|| {
                (
                    400,
                    json!({"error": {"message": "bad request", "type": "invalid_request_error", "param": null, "code": null}}),
                )
            })
        }
    }
}

fn serve(wire: Wire, mut stream: TcpStream, seen: Arc<Mutex<Vec<Seen>>>, reply: Reply) {
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    seen.lock().unwrap().push(request.clone());
    if let Some((status, body)) = check(wire, &request) {
        return respond(&mut stream, status, body.to_string().as_bytes());
    }
    match reply {
        Reply::Image(w, h, color) => {
            let data = b64::encode(&png(w, h, color));
            let body = match wire {
                Wire::Gemini => json!({"candidates": [{"content": {"role": "model", "parts": [
                    {"text": "Here is the edited image."},
                    {"inlineData": {"mimeType": "image/png", "data": data}}]},
                    "finishReason": "STOP", "index": 0}],
                    "usageMetadata": {"promptTokenCount": 1}}),
                Wire::OpenAi => json!({"created": 1713833628, "data": [{"b64_json": data}],
                    "usage": {"total_tokens": 1}}),
            };
            respond(&mut stream, 200, body.to_string().as_bytes());
        }
        Reply::Status(status, body) => respond(&mut stream, status, body.to_string().as_bytes()),
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes);
        }
        Reply::Huge(n) => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
            let _ = stream.write_all(head.as_bytes());
            let chunk = vec![b'a'; 1 << 16];
            let mut left = n;
            while left > 0 {
                let k = left.min(chunk.len());
                if stream.write_all(&chunk[..k]).is_err() {
                    break;
                }
                left -= k;
            }
        }
        Reply::Hang => {
            // Hold the connection until the client goes away.
            let mut buf = [0u8; 1];
            let _ = stream.read(&mut buf);
        }
    }
}

impl Server {
    fn start(wire: Wire, reply: Reply) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(Mutex::new(reply));
        let (s, r) = (seen.clone(), reply.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, r) = (s.clone(), r.lock().unwrap().clone());
                std::thread::spawn(move || serve(wire, stream, s, r));
            }
        });
        Server { base, seen, reply }
    }
    fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// A daemon whose workers see a configuration of our own.

struct GenDaemon {
    dir: tempfile::TempDir,
    socket: PathBuf,
    child: Child,
}

impl GenDaemon {
    /// `generative` is the text of `generative.toml` (None: no file); `env` more variables.
    fn start(generative: Option<&str>, env: &[(&str, &str)], limits: &str) -> GenDaemon {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let xdg = dir.path().join("config");
        std::fs::create_dir_all(xdg.join("easel")).unwrap();
        if let Some(text) = generative {
            let path = xdg.join("easel").join("generative.toml");
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        let socket = dir.path().join("easeld.sock");
        let config = dir.path().join("easel.toml");
        std::fs::write(
            &config,
            format!(
                "socket = {socket:?}\nlog_file = {:?}\nplugin_dirs = [{plugins:?}]\nmodel_dirs = []\nthreads = 2\n[limits]\n{limits}\n",
                dir.path().join("easeld-file.log"),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("easeld.log")).unwrap();
        let mut cmd = Command::new(easeld());
        cmd.arg("--config")
            .arg(&config)
            .env("XDG_CONFIG_HOME", &xdg)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for var in [
            "EASEL_GEMINI_API_KEY",
            "EASEL_OPENAI_API_KEY",
            "EASEL_GEMINI_BASE_URL",
            "EASEL_OPENAI_BASE_URL",
            "EASEL_GENERATIVE_PROVIDER",
            "EASEL_GENERATIVE_TIMEOUT_S",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let d = GenDaemon { dir, socket, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while easel_client::Client::connect(&d.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "easeld did not start:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }
    fn client(&self) -> easel_client::Client {
        easel_client::Client::connect(&self.socket).unwrap()
    }
    fn log(&self) -> String {
        let mut all = String::new();
        for f in ["easeld.log", "easeld-file.log"] {
            all += &std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        }
        all
    }
}

impl Drop for GenDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gemini_config(server: &Server, extra: &str) -> String {
    format!(
        "{extra}\n[gemini]\napi_key = \"{GEMINI_KEY}\"\nmodel = \"gemini-2.5-flash-image\"\nbase_url = \"{}\"\n",
        server.base
    )
}

fn openai_config(server: &Server, extra: &str) -> String {
    format!(
        "{extra}\n[openai]\napi_key = \"{OPENAI_KEY}\"\nmodel = \"gpt-image-1\"\nbase_url = \"{}\"\n",
        server.base
    )
}

/// A 96x64 photo-like gradient, a mask over its middle, and two reference images.
fn inputs() -> (
    easel_imaging::OwnedImage,
    easel_imaging::OwnedImage,
    Vec<easel_imaging::OwnedImage>,
) {
    let image = rgba8(96, 64, |x, y| [(x * 2) as u8, (y * 3) as u8, 90, 255]);
    let mask = gray8(96, 64, |x, y| {
        if (32..64).contains(&x) && (16..48).contains(&y) {
            255
        } else {
            0
        }
    });
    let refs = vec![
        rgba8(40, 40, |_, _| [200, 10, 10, 255]),
        rgba8(30, 50, |_, _| [10, 10, 200, 255]),
    ];
    (image, mask, refs)
}

fn daemon_error(e: ClientError) -> (Code, String) {
    match e {
        ClientError::Daemon { code, message, .. } => (code, message),
        other => panic!("expected a daemon error, got {other}"),
    }
}

fn assert_no_key(d: &GenDaemon, text: &str) {
    for key in [GEMINI_KEY, OPENAI_KEY] {
        assert!(!text.contains(key), "key in: {text}");
        assert!(!d.log().contains(key), "key in the daemon's log");
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn without_a_provider_the_operations_are_listed_but_refuse_and_send_nothing() {
    let server = Server::start(Wire::Gemini, Reply::Image(8, 8, [0, 255, 0, 255]));
    let d = GenDaemon::start(None, &[], "");
    let mut c = d.client();
    let ops = c.operations().unwrap();
    let ids: Vec<&str> = ops.operations.iter().map(|o| o.id.as_str()).collect();
    for id in ["generative-edit", "generative-fill", "generative-restyle"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let (image, mask, _) = inputs();
    let job = c
        .submit(
            "generative-edit",
            &shared(&image),
            Some(&shared(&mask)),
            &[],
            json!({}),
        )
        .unwrap();
    let (code, message) = daemon_error(c.wait(job, |_, _| {}).unwrap_err());
    assert_eq!(code, Code::Environment, "{message}");
    assert!(message.contains("nothing was sent"), "{message}");
    assert!(message.contains("EASEL_GEMINI_API_KEY"), "{message}");
    assert!(message.contains("generative.toml"), "{message}");
    assert!(server.seen().is_empty());
}

#[test]
fn a_private_file_is_required() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start(Wire::Gemini, Reply::Image(8, 8, [0, 255, 0, 255]));
    let d = GenDaemon::start(Some(&gemini_config(&server, "")), &[], "");
    let path = d.dir.path().join("config/easel/generative.toml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (image, mask, _) = inputs();
    let mut c = d.client();
    let job = c
        .submit(
            "generative-edit",
            &shared(&image),
            Some(&shared(&mask)),
            &[],
            json!({"params": {"prompt": "a hat"}}),
        )
        .unwrap();
    let (code, message) = daemon_error(c.wait(job, |_, _| {}).unwrap_err());
    assert_eq!(code, Code::Environment, "{message}");
    assert!(message.contains("chmod 600"), "{message}");
    assert_no_key(&d, &message);
    assert!(server.seen().is_empty());
}

/// The images inside a Gemini request's turn, decoded.
fn turn_images(turn: &Value) -> Vec<image::RgbaImage> {
    turn["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["inlineData"]["data"].as_str())
        .map(|d| decode_png(&b64::decode(d).unwrap()))
        .collect()
}

fn turn_text(turn: &Value) -> String {
    turn["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn pixel(img: &image::RgbaImage, x: u32, y: u32) -> [u8; 4] {
    img.get_pixel(x, y).0
}

const GREEN: [u8; 4] = [0, 255, 0, 255];

#[test]
fn gemini_edit_sends_prompt_crop_mask_references_and_seed_and_composites_the_answer() {
    // The answer is smaller than the crop: it is enlarged and the progress says so.
    let server = Server::start(Wire::Gemini, Reply::Image(24, 16, GREEN));
    let d = GenDaemon::start(Some(&gemini_config(&server, "")), &[], "");
    let (image, mask, refs) = inputs();
    let shared_refs: Vec<_> = refs.iter().map(shared).collect();
    let mut c = d.client();
    let job = c
        .submit(
            "generative-edit",
            &shared(&image),
            Some(&shared(&mask)),
            &shared_refs.iter().collect::<Vec<_>>(),
            json!({"params": {"prompt": "give her a red hat", "seed": 1234}}),
        )
        .unwrap();
    let mut messages = Vec::new();
    let r = c.wait(job, |_, m| messages.push(m.to_string())).unwrap();

    // Inside the selection the answer, outside it the original.
    let (cx, cy) = (48 - r.x as u32, 32 - r.y as u32);
    assert_eq!(px(&r.image, cx, cy), GREEN);
    if r.x == 0 && r.y == 0 && r.image.width == 96 {
        assert_eq!(px(&r.image, 1, 1), px(&image, 1, 1));
    }
    assert!(
        messages
            .iter()
            .any(|m| m.contains("24x16") && m.contains("Upscale")),
        "{messages:?}"
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(
        req.path,
        "/v1beta/models/gemini-2.5-flash-image:generateContent"
    );
    assert_eq!(req.header("x-goog-api-key"), Some(GEMINI_KEY));
    assert!(!req.path.contains(GEMINI_KEY));
    assert!(!String::from_utf8_lossy(&req.body).contains(GEMINI_KEY));
    let v = req.json();
    assert_eq!(v["generationConfig"]["seed"], 1234);
    assert_eq!(
        v["generationConfig"]["responseModalities"],
        json!(["TEXT", "IMAGE"])
    );
    let contents = v["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 1);
    assert!(turn_text(&contents[0]).contains("give her a red hat"));
    let images = turn_images(&contents[0]);
    assert_eq!(images.len(), 4, "crop, mask, two references");
    // The crop as the daemon cut it, pixel for pixel.
    assert_eq!(images[0].dimensions(), (r.image.width, r.image.height));
    assert_eq!(pixel(&images[0], 0, 0), px(&image, r.x as u32, r.y as u32));
    // The mask: white inside the selection, black outside.
    assert_eq!(pixel(&images[1], cx, cy), [255, 255, 255, 255]);
    assert_eq!(images[2].dimensions(), (40, 40));
    assert_eq!(pixel(&images[2], 5, 5), [200, 10, 10, 255]);
    assert_eq!(images[3].dimensions(), (30, 50));
    assert_no_key(&d, &format!("{messages:?}"));
}

#[test]
fn refinement_sends_the_prior_turn_and_its_prompts_so_the_service_refines() {
    let server = Server::start(Wire::Gemini, Reply::Image(96, 64, GREEN));
    let d = GenDaemon::start(Some(&gemini_config(&server, "")), &[], "");
    let (image, _, refs) = inputs();
    let mut c = d.client();
    let character = shared(&refs[0]);
    let first = {
        let job = c
            .submit(
                "generative-edit",
                &shared(&image),
                None,
                &[&character],
                json!({"params": {"prompt": "give her a red hat"}}),
            )
            .unwrap();
        c.wait(job, |_, _| {}).unwrap()
    };
    server.set(Reply::Image(96, 64, [0, 0, 255, 255]));
    let second = {
        let prior = shared(&first.image);
        let job = c
            .submit(
                "generative-edit",
                &shared(&image),
                None,
                &[&prior, &character],
                json!({"params": {"prompt": "make the hat blue", "conversation": "give her a red hat"}}),
            )
            .unwrap();
        c.wait(job, |_, _| {}).unwrap()
    };
    assert_eq!(px(&second.image, 10, 10), [0, 0, 255, 255]);
    let third = {
        let prior = shared(&second.image);
        let job = c
            .submit(
                "generative-edit",
                &shared(&image),
                None,
                &[&prior, &character],
                json!({"params": {"prompt": "add a feather",
                    "conversation": "give her a red hat\nmake the hat blue"}}),
            )
            .unwrap();
        c.wait(job, |_, _| {}).unwrap()
    };
    assert_eq!(third.image.width, 96);

    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    let turn2 = seen[1].json();
    let contents = turn2["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3, "user, model (prior result), user");
    assert!(turn_text(&contents[0]).contains("give her a red hat"));
    let first_images = turn_images(&contents[0]);
    assert_eq!(first_images.len(), 2, "the image and the character");
    assert_eq!(pixel(&first_images[1], 0, 0), [200, 10, 10, 255]);
    assert_eq!(contents[1]["role"], "model");
    let prior = turn_images(&contents[1]);
    assert_eq!(prior.len(), 1);
    assert_eq!(pixel(&prior[0], 10, 10), GREEN, "the first turn's result");
    assert_eq!(contents[2]["role"], "user");
    assert_eq!(turn_text(&contents[2]), "make the hat blue");

    let turn3 = seen[2].json();
    let contents = turn3["contents"].as_array().unwrap();
    assert!(turn_text(&contents[0]).contains("give her a red hat\nThen: make the hat blue"));
    assert_eq!(
        pixel(&turn_images(&contents[1])[0], 10, 10),
        [0, 0, 255, 255],
        "the second turn's result"
    );
    assert_eq!(turn_text(&contents[2]), "add a feather");
}

#[test]
fn storyboard_panels_use_their_own_prompts_and_the_same_character_references() {
    let server = Server::start(Wire::Gemini, Reply::Image(64, 36, GREEN));
    let d = GenDaemon::start(Some(&gemini_config(&server, "")), &[], "");
    let (_, _, refs) = inputs();
    let characters: Vec<_> = refs.iter().map(shared).collect();
    let panel = rgba8(64, 36, |_, _| [128, 128, 128, 255]);
    let prompts = [
        "panel 1: she walks into the bar",
        "panel 2: she orders a drink",
        "panel 3: she leaves at dawn",
    ];
    let mut c = d.client();
    for prompt in prompts {
        let job = c
            .submit(
                "generative-edit",
                &shared(&panel),
                None,
                &characters.iter().collect::<Vec<_>>(),
                json!({"params": {"prompt": prompt}}),
            )
            .unwrap();
        assert_eq!(px(&c.wait(job, |_, _| {}).unwrap().image, 3, 3), GREEN);
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    let mut reference_sets = Vec::new();
    for (req, prompt) in seen.iter().zip(prompts) {
        let v = req.json();
        assert!(turn_text(&v["contents"][0]).contains(prompt));
        let images = turn_images(&v["contents"][0]);
        assert_eq!(images.len(), 3);
        reference_sets.push(images[1..].to_vec());
    }
    assert_eq!(reference_sets[0], reference_sets[1]);
    assert_eq!(reference_sets[1], reference_sets[2]);
}

/// The parts of a multipart body: (name, bytes).
fn multipart(seen: &Seen) -> Vec<(String, Vec<u8>)> {
    let ct = seen.header("content-type").unwrap();
    let boundary = format!("--{}", ct.split("boundary=").nth(1).unwrap());
    let body = &seen.body;
    let mut parts = Vec::new();
    let starts: Vec<usize> = body
        .windows(boundary.len())
        .enumerate()
        .filter(|(_, w)| *w == boundary.as_bytes())
        .map(|(i, _)| i)
        .collect();
    for pair in starts.windows(2) {
        let part = &body[pair[0] + boundary.len() + 2..pair[1] - 2];
        let split = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&part[..split]).to_string();
        let name = head
            .split("name=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        parts.push((name, part[split + 4..].to_vec()));
    }
    parts
}

#[test]
fn openai_edits_send_images_and_a_transparent_mask_and_blank_layers_use_generations() {
    let server = Server::start(Wire::OpenAi, Reply::Image(96, 64, GREEN));
    let d = GenDaemon::start(Some(&openai_config(&server, "")), &[], "");
    let (image, mask, refs) = inputs();
    let character = shared(&refs[0]);
    let mut c = d.client();
    let job = c
        .submit(
            "generative-edit",
            &shared(&image),
            Some(&shared(&mask)),
            &[&character],
            json!({"params": {"prompt": "a red hat"}}),
        )
        .unwrap();
    let r = c.wait(job, |_, _| {}).unwrap();
    let (cx, cy) = (48 - r.x as u32, 32 - r.y as u32);
    assert_eq!(px(&r.image, cx, cy), GREEN);

    let seen = server.seen();
    assert_eq!(seen[0].path, "/v1/images/edits");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert!(!String::from_utf8_lossy(&seen[0].body).contains(OPENAI_KEY));
    let parts = multipart(&seen[0]);
    let field = |name: &str| -> Vec<Vec<u8>> {
        parts
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .collect()
    };
    assert_eq!(field("model"), [b"gpt-image-1".to_vec()]);
    assert!(String::from_utf8_lossy(&field("prompt")[0]).contains("a red hat"));
    let images = field("image[]");
    assert_eq!(images.len(), 2);
    let crop = decode_png(&images[0]);
    assert_eq!(crop.dimensions(), (r.image.width, r.image.height));
    assert_eq!(pixel(&decode_png(&images[1]), 0, 0), [200, 10, 10, 255]);
    let alpha = decode_png(&field("mask")[0]);
    assert_eq!(alpha.dimensions(), crop.dimensions());
    assert_eq!(pixel(&alpha, cx, cy)[3], 0, "transparent where to edit");
    assert_eq!(pixel(&alpha, 0, 0)[3], 255, "opaque where to keep");

    // A blank layer with nothing to keep: the generations endpoint, JSON.
    let blank = rgba8(96, 64, |_, _| [0, 0, 0, 0]);
    let job = c
        .submit(
            "generative-fill",
            &shared(&blank),
            Some(&shared(&mask)),
            &[],
            json!({"params": {"prompt": "a lighthouse"}}),
        )
        .unwrap();
    let r = c.wait(job, |_, _| {}).unwrap();
    assert_eq!(px(&r.image, 48 - r.x as u32, 32 - r.y as u32), GREEN);
    let seen = server.seen();
    assert_eq!(seen[1].path, "/v1/images/generations");
    let v = seen[1].json();
    assert_eq!(v["prompt"], "a lighthouse");
    assert_eq!(v["model"], "gpt-image-1");
    assert_no_key(&d, "");
}

fn run_edit(d: &GenDaemon) -> (Code, String) {
    let (image, mask, _) = inputs();
    let mut c = d.client();
    let job = c
        .submit(
            "generative-edit",
            &shared(&image),
            Some(&shared(&mask)),
            &[],
            json!({"params": {"prompt": "a red hat"}}),
        )
        .unwrap();
    daemon_error(c.wait(job, |_, _| {}).unwrap_err())
}

#[test]
fn gemini_refusals_quotas_and_bad_keys_come_back_in_the_services_words() {
    let server = Server::start(Wire::Gemini, Reply::Hang);
    let d = GenDaemon::start(Some(&gemini_config(&server, "")), &[], "");
    let cases = [
        (
            Reply::Status(
                429,
                json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                "message": "You exceeded your current quota"}}),
            ),
            Code::TooLarge,
            "You exceeded your current quota",
        ),
        (
            Reply::Status(
                200,
                json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}),
            ),
            Code::InvalidInput,
            "PROHIBITED_CONTENT",
        ),
        (
            Reply::Status(
                200,
                json!({"candidates": [{"content": {"parts": [{"text": "I can't make that"}]},
                "finishReason": "IMAGE_SAFETY"}]}),
            ),
            Code::InvalidInput,
            "I can't make that",
        ),
        (
            // The service quotes the key back: it must not reach the user.
            Reply::Status(
                403,
                json!({"error": {"code": 403, "status": "PERMISSION_DENIED",
                "message": format!("API key {GEMINI_KEY} has been suspended")}}),
            ),
            Code::Environment,
            "has been suspended",
        ),
        (
            Reply::Status(
                400,
                json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
                "message": "Image too large", "details": []}}),
            ),
            Code::InvalidInput,
            "Image too large",
        ),
    ];
    for (reply, code, words) in cases {
        server.set(reply);
        let (got, message) = run_edit(&d);
        assert_eq!(got, code, "{message}");
        assert!(message.contains(words), "{message}");
        assert_no_key(&d, &message);
    }
}

#[test]
fn a_wrong_key_is_refused_by_the_service_and_reported_as_configuration() {
    let server = Server::start(Wire::Gemini, Reply::Image(8, 8, GREEN));
    let d = GenDaemon::start(
        Some(&gemini_config(&server, "")),
        &[("EASEL_GEMINI_API_KEY", "AIza-wrong-key-999")],
        "",
    );
    let (code, message) = run_edit(&d);
    assert_eq!(code, Code::Environment, "{message}");
    assert!(message.contains("API key not valid"), "{message}");
    assert!(message.contains("EASEL_GEMINI_API_KEY"), "{message}");
    assert_eq!(
        server.seen()[0].header("x-goog-api-key"),
        Some("AIza-wrong-key-999")
    );
    assert!(!d.log().contains("AIza-wrong-key-999"));
}

#[test]
fn openai_quotas_refusals_and_bad_keys() {
    let server = Server::start(Wire::OpenAi, Reply::Hang);
    let d = GenDaemon::start(Some(&openai_config(&server, "")), &[], "");
    let error = |code: &str, msg: &str| json!({"error": {"message": msg, "type": "invalid_request_error", "param": null, "code": code}});
    let cases = [
        (
            Reply::Status(
                429,
                error("insufficient_quota", "You exceeded your current quota"),
            ),
            Code::TooLarge,
            "insufficient_quota",
        ),
        (
            Reply::Status(
                400,
                error(
                    "moderation_blocked",
                    "Your request was rejected by the safety system",
                ),
            ),
            Code::InvalidInput,
            "safety system",
        ),
        (
            Reply::Status(
                401,
                error(
                    "invalid_api_key",
                    &format!("Incorrect API key provided: {OPENAI_KEY}"),
                ),
            ),
            Code::Environment,
            "Incorrect API key provided",
        ),
    ];
    for (reply, code, words) in cases {
        server.set(reply);
        let (got, message) = run_edit(&d);
        assert_eq!(got, code, "{message}");
        assert!(message.contains(words), "{message}");
        assert_no_key(&d, &message);
    }
}

#[test]
fn malformed_and_oversized_answers_are_refused() {
    let server = Server::start(Wire::Gemini, Reply::Hang);
    let d = GenDaemon::start(Some(&gemini_config(&server, "")), &[], "");
    let not_an_image = json!({"candidates": [{"content": {"parts": [
        {"inlineData": {"mimeType": "image/png", "data": b64::encode(b"hello, not a PNG")}}]},
        "finishReason": "STOP"}]});
    let cases = [
        (
            Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n<html>".to_vec()),
            Code::ModelError,
            "not JSON",
        ),
        (Reply::Status(200, not_an_image), Code::ModelError, "image"),
        (
            Reply::Status(
                200,
                json!({"candidates": [{"content": {"parts": [
                {"inlineData": {"mimeType": "image/png", "data": "@@@ not base64 @@@"}}]}}]}),
            ),
            Code::ModelError,
            "base64",
        ),
        (Reply::Huge(65 << 20), Code::TooLarge, "larger than"),
        (
            Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"candid".to_vec()),
            Code::Environment,
            "failed",
        ),
    ];
    for (reply, code, words) in cases {
        server.set(reply);
        let (got, message) = run_edit(&d);
        assert_eq!(got, code, "{message}");
        assert!(message.contains(words), "{message}");
    }
}

#[test]
fn time_outs_and_an_unreachable_service_are_clear() {
    let server = Server::start(Wire::Gemini, Reply::Hang);
    let d = GenDaemon::start(Some(&gemini_config(&server, "timeout_s = 1")), &[], "");
    let (code, message) = run_edit(&d);
    assert_eq!(code, Code::Environment, "{message}");
    assert!(message.contains("did not answer within 1 s"), "{message}");

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = GenDaemon::start(
        Some(&gemini_config(&server, "")),
        &[("EASEL_GEMINI_BASE_URL", &format!("http://127.0.0.1:{port}"))],
        "",
    );
    let (code, message) = run_edit(&d);
    assert_eq!(code, Code::Environment, "{message}");
    assert!(message.contains("cannot reach Gemini"), "{message}");
    assert!(message.contains("network"), "{message}");
}

#[test]
fn a_cancel_while_the_service_is_thinking_ends_the_job_without_killing_the_worker() {
    let server = Server::start(Wire::Gemini, Reply::Hang);
    let d = GenDaemon::start(Some(&gemini_config(&server, "timeout_s = 300")), &[], "");
    let (image, mask, _) = inputs();
    let mut c = d.client();
    let job = c
        .submit(
            "generative-edit",
            &shared(&image),
            Some(&shared(&mask)),
            &[],
            json!({"params": {"prompt": "a red hat"}}),
        )
        .unwrap();
    // Wait until the request is at the server, then cancel.
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.seen().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no request arrived:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.cancel(job).unwrap();
    let (code, message) = daemon_error(c.wait(job, |_, _| {}).unwrap_err());
    assert_eq!(code, Code::Cancelled, "{message}");
    assert!(!d.log().contains("killing its worker"), "{}", d.log());
    // The worker is still good for the next job.
    server.set(Reply::Image(96, 64, GREEN));
    let job = c
        .submit(
            "generative-edit",
            &shared(&image),
            Some(&shared(&mask)),
            &[],
            json!({"params": {"prompt": "a red hat"}}),
        )
        .unwrap();
    let r = c.wait(job, |_, _| {}).unwrap();
    assert_eq!(px(&r.image, 48 - r.x as u32, 32 - r.y as u32), GREEN);
}

#[test]
fn the_key_from_the_environment_alone_turns_it_on_and_a_key_parameter_is_refused() {
    let server = Server::start(Wire::Gemini, Reply::Image(96, 64, GREEN));
    let env_key = GEMINI_KEY;
    let d = GenDaemon::start(
        None,
        &[
            ("EASEL_GEMINI_API_KEY", env_key),
            ("EASEL_GEMINI_BASE_URL", server.base.as_str()),
        ],
        "",
    );
    let (image, mask, _) = inputs();
    let mut c = d.client();
    // A key is never a request parameter: the daemon refuses the name before the plugin runs.
    let job = c.submit(
        "generative-edit",
        &shared(&image),
        Some(&shared(&mask)),
        &[],
        json!({"params": {"prompt": "a red hat", "api_key": "AIza-from-a-request"}}),
    );
    let refused = match job {
        Err(e) => daemon_error(e),
        Ok(job) => daemon_error(c.wait(job, |_, _| {}).unwrap_err()),
    };
    assert_eq!(refused.0, Code::InvalidParams, "{}", refused.1);
    assert!(refused.1.contains("api_key"), "{}", refused.1);
    assert!(
        server.seen().is_empty(),
        "nothing sent for a refused request"
    );

    let job = c
        .submit(
            "generative-edit",
            &shared(&image),
            Some(&shared(&mask)),
            &[],
            json!({"params": {"prompt": "a red hat"}}),
        )
        .unwrap();
    let r = c.wait(job, |_, _| {}).unwrap();
    assert_eq!(px(&r.image, 48 - r.x as u32, 32 - r.y as u32), GREEN);
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-goog-api-key"), Some(env_key));
    assert!(!seen[0].path.contains(env_key), "{}", seen[0].path);
    assert!(!String::from_utf8_lossy(&seen[0].body).contains(env_key));
    assert_no_key(&d, "");
}

#[test]
fn openai_refinement_edits_the_last_result_and_quotes_the_earlier_prompts() {
    let server = Server::start(Wire::OpenAi, Reply::Image(96, 64, GREEN));
    let d = GenDaemon::start(Some(&openai_config(&server, "")), &[], "");
    let (image, mask, refs) = inputs();
    let character = shared(&refs[0]);
    let mut c = d.client();
    let first = {
        let job = c
            .submit(
                "generative-edit",
                &shared(&image),
                Some(&shared(&mask)),
                &[&character],
                json!({"params": {"prompt": "a red hat"}}),
            )
            .unwrap();
        c.wait(job, |_, _| {}).unwrap()
    };
    server.set(Reply::Image(96, 64, [0, 0, 255, 255]));
    let prior = shared(&first.image);
    let job = c
        .submit(
            "generative-edit",
            &shared(&image),
            Some(&shared(&mask)),
            &[&prior, &character],
            json!({"params": {"prompt": "make it blue", "conversation": "a red hat"}}),
        )
        .unwrap();
    let second = c.wait(job, |_, _| {}).unwrap();
    let (cx, cy) = (48 - second.x as u32, 32 - second.y as u32);
    assert_eq!(px(&second.image, cx, cy), [0, 0, 255, 255]);

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].path, "/v1/images/edits");
    let parts = multipart(&seen[1]);
    let field = |name: &str| -> Vec<Vec<u8>> {
        parts
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .collect()
    };
    let prompt = String::from_utf8_lossy(&field("prompt")[0]).to_string();
    assert!(
        prompt.contains("earlier instructions: a red hat") && prompt.contains("make it blue"),
        "{prompt}"
    );
    let images = field("image[]");
    assert_eq!(images.len(), 2, "the last result, then the character");
    let edited = decode_png(&images[0]);
    assert_eq!(
        pixel(&edited, cx, cy),
        GREEN,
        "the image edited is the first turn's result"
    );
    assert_eq!(pixel(&decode_png(&images[1]), 0, 0), [200, 10, 10, 255]);
    assert_eq!(
        decode_png(&field("mask")[0]).dimensions(),
        edited.dimensions()
    );
    assert_no_key(&d, &prompt);
}
