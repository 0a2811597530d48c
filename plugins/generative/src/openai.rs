//! An OpenAI-compatible images API: `POST {base}/v1/images/edits` (multipart: `image[]` files,
//! the `mask` PNG whose transparent pixels mark what to change, `prompt`, `model`, `size`) and
//! `POST {base}/v1/images/generations` (JSON) for a blank layer; the key as a `Bearer` token;
//! answers as `data[0].b64_json`. The API has no seed and no conversation: a follow-up edits the
//! earlier result with the earlier prompts quoted in the new one.

use crate::config::{Secret, Settings};
use crate::picture::Png;
use crate::provider::{
    instruction, service_words, status_error, GenRequest, HttpRequest, Provider, Task,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use easel_sdk::PluginError;
use serde_json::{json, Value};

/// The documented per-image limit (gpt-image-1).
pub const MAX_IMAGE_BYTES: usize = 50 * 1000 * 1000;
/// At most this many input images in one edit.
pub const MAX_IMAGES: usize = 16;

const NAME: &str = "The images service";
const KEY_HINT: &str = "Check api_key under [openai] in generative.toml or EASEL_OPENAI_API_KEY";
const BOUNDARY: &str = "easel-generative-7c1d0a5e9b3f4e28";

pub struct OpenAi {
    key: Secret,
    model: String,
    base_url: String,
    size: Option<String>,
}

/// The size parameter: the configured one, else the documented size nearest the aspect ratio.
pub fn size_for(model: &str, configured: Option<&str>, w: u32, h: u32) -> String {
    if let Some(s) = configured {
        return s.to_string();
    }
    if model.starts_with("dall-e") {
        return "1024x1024".into();
    }
    let ratio = w as f64 / h.max(1) as f64;
    if ratio > 1.2 {
        "1536x1024".into()
    } else if ratio < 1.0 / 1.2 {
        "1024x1536".into()
    } else {
        "1024x1024".into()
    }
}

struct Multipart(Vec<u8>);

impl Multipart {
    fn field(&mut self, name: &str, value: &str) {
        self.0.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    fn file(&mut self, name: &str, filename: &str, png: &Png) {
        self.0.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        self.0.extend_from_slice(&png.bytes);
        self.0.extend_from_slice(b"\r\n");
    }
    fn finish(mut self) -> Vec<u8> {
        self.0
            .extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        self.0
    }
}

impl OpenAi {
    pub fn new(settings: &Settings) -> OpenAi {
        OpenAi {
            key: settings.api_key.clone(),
            model: settings.model.clone(),
            base_url: settings.base_url.clone(),
            size: settings.size.clone(),
        }
    }

    fn prompt(req: &GenRequest) -> String {
        let now = instruction(req);
        match &req.prior {
            Some(prior) => format!(
                "The first image is the result of these earlier instructions: {}.\nNow: {now}",
                prior.prompts.join("; then ")
            ),
            None => now,
        }
    }

    fn dalle(&self) -> bool {
        self.model.starts_with("dall-e")
    }
}

impl Provider for OpenAi {
    fn title(&self) -> &'static str {
        NAME
    }

    fn secret(&self) -> &Secret {
        &self.key
    }

    fn prepare(&self, req: &GenRequest) -> Result<HttpRequest, PluginError> {
        let size = size_for(
            &self.model,
            self.size.as_deref(),
            req.image.width,
            req.image.height,
        );
        let secret_header = ("Authorization", format!("Bearer {}", self.key.expose()));
        let generate =
            req.task == Task::Fill && req.blank && req.references.is_empty() && req.prior.is_none();
        if generate {
            let mut body = json!({"model": self.model, "prompt": req.prompt, "n": 1, "size": size});
            if self.dalle() {
                body["response_format"] = json!("b64_json");
            }
            return Ok(HttpRequest {
                url: format!("{}/v1/images/generations", self.base_url),
                content_type: "application/json".into(),
                body: serde_json::to_vec(&body)
                    .map_err(|e| PluginError::plugin(format!("cannot write the request: {e}")))?,
                secret_header,
            });
        }
        let mut images: Vec<&Png> = Vec::new();
        images.push(req.prior.as_ref().map_or(&req.image, |p| &p.image));
        images.extend(req.references.iter());
        if images.len() > MAX_IMAGES {
            return Err(PluginError::limits(format!(
                "{} images in one edit; the images API takes at most {MAX_IMAGES}",
                images.len()
            )));
        }
        if let Some(big) = images.iter().find(|p| p.bytes.len() > MAX_IMAGE_BYTES) {
            return Err(PluginError::limits(format!(
                "an image of {:.1} MB is more than the 50 MB the images API takes",
                big.bytes.len() as f64 / 1e6
            )));
        }
        let mut form = Multipart(Vec::new());
        form.field("model", &self.model);
        form.field("prompt", &OpenAi::prompt(req));
        form.field("n", "1");
        form.field("size", &size);
        if self.dalle() {
            form.field("response_format", "b64_json");
        }
        let image_field = if self.dalle() { "image" } else { "image[]" };
        for (i, png) in images.iter().enumerate() {
            form.file(image_field, &format!("image-{i}.png"), png);
        }
        if let Some(mask) = &req.mask_alpha {
            form.file("mask", "mask.png", mask);
        }
        Ok(HttpRequest {
            url: format!("{}/v1/images/edits", self.base_url),
            content_type: format!("multipart/form-data; boundary={BOUNDARY}"),
            body: form.finish(),
            secret_header,
        })
    }

    fn parse(&self, status: u16, body: &[u8]) -> Result<Vec<u8>, PluginError> {
        let value: Option<Value> = serde_json::from_slice(body).ok();
        if status != 200 {
            let error = value.as_ref().and_then(|v| v.get("error"));
            let message = error
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
            let code = error
                .and_then(|e| e.get("code"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let reason = service_words(
                &self.key,
                &if code.is_empty() {
                    message
                } else {
                    format!("{code}: {message}")
                },
                400,
            );
            if status == 400
                && matches!(
                    code,
                    "content_policy_violation" | "moderation_blocked" | "safety_violations"
                )
            {
                return Err(PluginError::invalid_input(format!(
                    "the images service refused the content: {reason}. Rephrase the prompt or \
                     change the references"
                )));
            }
            return Err(status_error(NAME, status, &reason, KEY_HINT));
        }
        let value = value.ok_or_else(|| {
            PluginError::model(format!(
                "the images service answered with something that is not JSON: {}",
                service_words(&self.key, &String::from_utf8_lossy(body), 200)
            ))
        })?;
        let item = value
            .pointer("/data/0")
            .ok_or_else(|| PluginError::model("the images service's answer has no data[0]"))?;
        match item.get("b64_json").and_then(Value::as_str) {
            Some(data) => STANDARD.decode(data.trim()).map_err(|e| {
                PluginError::model(format!("the service's image is not valid base64: {e}"))
            }),
            None if item.get("url").is_some() => Err(PluginError::model(
                "the images service answered with a URL instead of b64_json; Easel does not \
                 fetch URLs from answers",
            )),
            None => Err(PluginError::model(
                "the images service's answer has no b64_json image",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;
    use crate::provider::Prior;
    use easel_sdk::ErrorKind;
    use std::time::Duration;

    fn png(tag: u8) -> Png {
        Png {
            width: 30,
            height: 20,
            bytes: vec![tag; 4],
        }
    }

    fn openai(model: &str) -> OpenAi {
        OpenAi::new(&Settings {
            kind: Kind::OpenAi,
            api_key: Secret::new("sk-test-openai"),
            model: model.into(),
            base_url: "http://127.0.0.1:1".into(),
            size: None,
            timeout: Duration::from_secs(1),
            max_input_side: 1024,
        })
    }

    fn request(task: Task) -> GenRequest {
        GenRequest {
            task,
            prompt: "a red jacket".into(),
            image: png(1),
            mask_white: Some(png(2)),
            mask_alpha: Some(png(3)),
            references: vec![png(4)],
            prior: None,
            seed: Some(5),
            blank: false,
        }
    }

    fn count(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).filter(|w| *w == needle).count()
    }

    #[test]
    fn edits_are_multipart_with_images_mask_and_bearer_key() {
        let http = openai("gpt-image-1").prepare(&request(Task::Edit)).unwrap();
        assert_eq!(http.url, "http://127.0.0.1:1/v1/images/edits");
        assert!(http
            .content_type
            .starts_with("multipart/form-data; boundary="));
        assert_eq!(
            http.secret_header,
            ("Authorization", "Bearer sk-test-openai".into())
        );
        let body = &http.body;
        assert_eq!(count(body, b"sk-test-openai"), 0);
        assert_eq!(count(body, b"name=\"image[]\""), 2);
        assert_eq!(count(body, b"name=\"mask\""), 1);
        assert_eq!(count(body, &[1, 1, 1, 1]), 1);
        assert_eq!(count(body, &[3, 3, 3, 3]), 1);
        assert_eq!(count(body, b"1536x1024"), 1);
        assert_eq!(count(body, b"a red jacket"), 1);
        assert_eq!(count(body, b"response_format"), 0);
        assert!(body.ends_with(format!("--{BOUNDARY}--\r\n").as_bytes()));
    }

    #[test]
    fn a_follow_up_edits_the_prior_result_and_quotes_the_earlier_prompts() {
        let mut req = request(Task::Edit);
        req.prior = Some(Prior {
            prompts: vec!["a knight".into()],
            image: png(9),
        });
        let body = openai("gpt-image-1").prepare(&req).unwrap().body;
        assert_eq!(count(&body, &[9, 9, 9, 9]), 1);
        assert_eq!(count(&body, &[1, 1, 1, 1]), 0);
        assert_eq!(count(&body, b"earlier instructions: a knight"), 1);
    }

    #[test]
    fn blank_layers_use_generations_and_dalle_asks_for_base64() {
        let mut req = request(Task::Fill);
        req.references.clear();
        req.blank = true;
        let http = openai("dall-e-2").prepare(&req).unwrap();
        assert_eq!(http.url, "http://127.0.0.1:1/v1/images/generations");
        let v: Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(v["prompt"], "a red jacket");
        assert_eq!(v["size"], "1024x1024");
        assert_eq!(v["response_format"], "b64_json");
        assert!(v.get("seed").is_none());
    }

    #[test]
    fn answers_and_errors() {
        let o = openai("gpt-image-1");
        let ok = json!({"created": 1, "data": [{"b64_json": STANDARD.encode(b"IMG")}]});
        assert_eq!(o.parse(200, ok.to_string().as_bytes()).unwrap(), b"IMG");
        let err = |status: u16, code: &str, msg: &str| {
            let body = json!({"error": {"message": msg, "type": "invalid_request_error",
                "param": null, "code": code}});
            o.parse(status, body.to_string().as_bytes()).unwrap_err()
        };
        let e = err(
            401,
            "invalid_api_key",
            "Incorrect API key provided: sk-test-openai",
        );
        assert_eq!(e.kind, ErrorKind::Environment);
        assert!(e.message.contains("Incorrect API key") && !e.message.contains("sk-test-openai"));
        let e = err(429, "insufficient_quota", "You exceeded your current quota");
        assert_eq!(e.kind, ErrorKind::Limits);
        assert!(
            e.message.contains("insufficient_quota: You exceeded"),
            "{e}"
        );
        let e = err(
            400,
            "moderation_blocked",
            "Your request was rejected by the safety system",
        );
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert!(e.message.contains("safety system"), "{e}");
        let url = json!({"data": [{"url": "https://x"}]});
        assert_eq!(
            o.parse(200, url.to_string().as_bytes()).unwrap_err().kind,
            ErrorKind::Model
        );
        assert_eq!(o.parse(200, b"{}").unwrap_err().kind, ErrorKind::Model);
    }
}
