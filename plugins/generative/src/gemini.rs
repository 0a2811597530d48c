//! Google's Gemini API: `POST {base}/v1beta/models/{model}:generateContent` with the key in the
//! `x-goog-api-key` header, images as `inlineData` parts (base64 PNG), a conversation as
//! alternating `user` and `model` contents, the seed in `generationConfig.seed`.

use crate::config::{Secret, Settings};
use crate::picture::Png;
use crate::provider::{
    instruction, service_words, status_error, GenRequest, HttpRequest, Provider,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use easel_sdk::PluginError;
use serde_json::{json, Value};

/// The API takes at most 20 MB of inline data per request.
pub const MAX_REQUEST_BYTES: usize = 20 * 1000 * 1000;

/// Finish reasons that mean the service would not produce the content.
const REFUSALS: &[&str] = &[
    "SAFETY",
    "IMAGE_SAFETY",
    "PROHIBITED_CONTENT",
    "IMAGE_PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
    "IMAGE_RECITATION",
];

pub struct Gemini {
    key: Secret,
    model: String,
    base_url: String,
}

const NAME: &str = "Gemini";
const KEY_HINT: &str = "Check api_key under [gemini] in generative.toml or EASEL_GEMINI_API_KEY";

fn image_part(png: &Png) -> Value {
    json!({"inlineData": {"mimeType": "image/png", "data": STANDARD.encode(&png.bytes)}})
}

impl Gemini {
    pub fn new(settings: &Settings) -> Gemini {
        Gemini {
            key: settings.api_key.clone(),
            model: settings.model.clone(),
            base_url: settings.base_url.clone(),
        }
    }

    /// The `contents` of the request: one user turn with the image, the mask and the
    /// references; for a follow-up, the earlier prompts in that turn, the earlier result as the
    /// model's turn, and the new prompt as the last user turn.
    pub fn contents(req: &GenRequest) -> Value {
        let mut first = Vec::new();
        let opening = match &req.prior {
            Some(prior) => {
                let mut earlier = req.clone();
                earlier.prompt = prior.prompts.join("\nThen: ");
                instruction(&earlier)
            }
            None => instruction(req),
        };
        first.push(json!({"text": opening}));
        first.push(image_part(&req.image));
        if let Some(mask) = &req.mask_white {
            first.push(
                json!({"text": "Mask of the region to change (white: change, black: keep):"}),
            );
            first.push(image_part(mask));
        }
        for (i, r) in req.references.iter().enumerate() {
            first.push(json!({"text": format!("Reference image {}:", i + 1)}));
            first.push(image_part(r));
        }
        let mut contents = vec![json!({"role": "user", "parts": first})];
        if let Some(prior) = &req.prior {
            contents.push(json!({"role": "model", "parts": [image_part(&prior.image)]}));
            contents.push(json!({"role": "user", "parts": [{"text": req.prompt}]}));
        }
        Value::Array(contents)
    }
}

impl Provider for Gemini {
    fn title(&self) -> &'static str {
        NAME
    }

    fn secret(&self) -> &Secret {
        &self.key
    }

    fn prepare(&self, req: &GenRequest) -> Result<HttpRequest, PluginError> {
        let mut config = json!({"responseModalities": ["TEXT", "IMAGE"]});
        if let Some(seed) = req.seed {
            // The API's seed is an int32.
            config["seed"] = json!((seed % (i32::MAX as u64)) as i64);
        }
        let body = json!({"contents": Gemini::contents(req), "generationConfig": config});
        let body = serde_json::to_vec(&body)
            .map_err(|e| PluginError::plugin(format!("cannot write the request: {e}")))?;
        if body.len() > MAX_REQUEST_BYTES {
            return Err(PluginError::limits(format!(
                "the request would be {:.1} MB and Gemini takes at most 20 MB of inline images: \
                 use a smaller selection or fewer reference images",
                body.len() as f64 / 1e6
            )));
        }
        Ok(HttpRequest {
            url: format!(
                "{}/v1beta/models/{}:generateContent",
                self.base_url, self.model
            ),
            content_type: "application/json".into(),
            body,
            secret_header: ("x-goog-api-key", self.key.expose().to_string()),
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
                .and_then(|e| e.get("status"))
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
            // A wrong key is a 400 with reason API_KEY_INVALID.
            let bad_key = error
                .and_then(|e| e.get("details"))
                .and_then(Value::as_array)
                .is_some_and(|d| {
                    d.iter()
                        .any(|x| x.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
                });
            let status = if bad_key { 401 } else { status };
            return Err(status_error(NAME, status, &reason, KEY_HINT));
        }
        let value = value.ok_or_else(|| {
            PluginError::model(format!(
                "Gemini answered with something that is not JSON: {}",
                service_words(&self.key, &String::from_utf8_lossy(body), 200)
            ))
        })?;
        if let Some(block) = value
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
        {
            let why = value
                .pointer("/promptFeedback/blockReasonMessage")
                .and_then(Value::as_str)
                .map(|m| format!(": {}", service_words(&self.key, m, 300)))
                .unwrap_or_default();
            return Err(PluginError::invalid_input(format!(
                "Gemini refused the prompt (blockReason {block}){why}. Rephrase the prompt or \
                 change the references"
            )));
        }
        let candidate = value
            .pointer("/candidates/0")
            .ok_or_else(|| PluginError::model("Gemini's answer has no candidates"))?;
        let parts = candidate
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let text: Vec<&str> = parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        let said = if text.is_empty() {
            String::new()
        } else {
            format!(
                "; it said: {}",
                service_words(&self.key, &text.join(" "), 300)
            )
        };
        let image = parts.iter().find_map(|p| {
            p.get("inlineData")
                .or_else(|| p.get("inline_data"))
                .and_then(|d| d.get("data"))
                .and_then(Value::as_str)
        });
        let finish = candidate
            .get("finishReason")
            .and_then(Value::as_str)
            .unwrap_or("");
        match image {
            Some(data) => STANDARD.decode(data.trim()).map_err(|e| {
                PluginError::model(format!("Gemini's image is not valid base64: {e}"))
            }),
            None if REFUSALS.contains(&finish) => Err(PluginError::invalid_input(format!(
                "Gemini refused to generate this (finishReason {finish}){said}. Rephrase the \
                 prompt or change the references"
            ))),
            None => Err(PluginError::model(format!(
                "Gemini answered without an image (finishReason {}){said}",
                if finish.is_empty() { "none" } else { finish }
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;
    use crate::provider::{Prior, Task};
    use easel_sdk::ErrorKind;
    use std::time::Duration;

    fn png(tag: u8) -> Png {
        Png {
            width: 1,
            height: 1,
            bytes: vec![tag; 3],
        }
    }

    fn gemini() -> Gemini {
        Gemini::new(&Settings {
            kind: Kind::Gemini,
            api_key: Secret::new("AIza-test-key"),
            model: "gemini-2.5-flash-image".into(),
            base_url: "http://127.0.0.1:1".into(),
            size: None,
            timeout: Duration::from_secs(1),
            max_input_side: 1024,
        })
    }

    fn request() -> GenRequest {
        GenRequest {
            task: Task::Edit,
            prompt: "make the jacket red".into(),
            image: png(1),
            mask_white: Some(png(2)),
            mask_alpha: None,
            references: vec![png(3)],
            prior: None,
            seed: Some(42),
            blank: false,
        }
    }

    #[test]
    fn request_carries_prompt_images_seed_and_the_key_only_in_a_header() {
        let http = gemini().prepare(&request()).unwrap();
        assert_eq!(
            http.url,
            "http://127.0.0.1:1/v1beta/models/gemini-2.5-flash-image:generateContent"
        );
        assert_eq!(
            http.secret_header,
            ("x-goog-api-key", "AIza-test-key".into())
        );
        let body = String::from_utf8(http.body.clone()).unwrap();
        assert!(!body.contains("AIza-test-key") && !http.url.contains("AIza"));
        let v: Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(v["generationConfig"]["seed"], 42);
        let parts = v["contents"][0]["parts"].as_array().unwrap();
        assert!(parts[0]["text"]
            .as_str()
            .unwrap()
            .contains("make the jacket red"));
        let images: Vec<&str> = parts
            .iter()
            .filter_map(|p| p["inlineData"]["data"].as_str())
            .collect();
        assert_eq!(
            images,
            [
                STANDARD.encode([1; 3]),
                STANDARD.encode([2; 3]),
                STANDARD.encode([3; 3])
            ]
        );
        assert_eq!(v["contents"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_follow_up_sends_the_prior_turn_as_the_models_answer() {
        let mut req = request();
        req.prior = Some(Prior {
            prompts: vec!["a knight".into(), "on a horse".into()],
            image: png(9),
        });
        let v: Value = serde_json::from_slice(&gemini().prepare(&req).unwrap().body).unwrap();
        let contents = v["contents"].as_array().unwrap();
        assert_eq!(contents.len(), 3);
        let opening = contents[0]["parts"][0]["text"].as_str().unwrap();
        assert!(opening.contains("a knight\nThen: on a horse"), "{opening}");
        assert_eq!(contents[1]["role"], "model");
        assert_eq!(
            contents[1]["parts"][0]["inlineData"]["data"],
            STANDARD.encode([9; 3])
        );
        assert_eq!(contents[2]["role"], "user");
        assert_eq!(contents[2]["parts"][0]["text"], "make the jacket red");
    }

    #[test]
    fn answers_and_refusals() {
        let g = gemini();
        let ok = json!({"candidates": [{"content": {"parts": [
            {"text": "Here it is"},
            {"inlineData": {"mimeType": "image/png", "data": STANDARD.encode(b"PNGDATA")}}
        ]}, "finishReason": "STOP"}]});
        assert_eq!(g.parse(200, ok.to_string().as_bytes()).unwrap(), b"PNGDATA");

        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}});
        let err = g.parse(200, blocked.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains("blockReason SAFETY"), "{err}");

        let refused = json!({"candidates": [{"content": {"parts": [{"text": "I can't"}]},
            "finishReason": "IMAGE_SAFETY"}]});
        let err = g.parse(200, refused.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains("IMAGE_SAFETY") && err.message.contains("I can't"));

        let text_only = json!({"candidates": [{"content": {"parts": [{"text": "no"}]},
            "finishReason": "STOP"}]});
        assert_eq!(
            g.parse(200, text_only.to_string().as_bytes())
                .unwrap_err()
                .kind,
            ErrorKind::Model
        );
        assert_eq!(g.parse(200, b"<html>").unwrap_err().kind, ErrorKind::Model);
    }

    #[test]
    fn error_bodies_map_to_kinds_with_the_services_words_and_no_key() {
        let g = gemini();
        let body = |code: u16, status: &str, msg: &str, reason: Option<&str>| {
            let mut e = json!({"error": {"code": code, "message": msg, "status": status}});
            if let Some(r) = reason {
                e["error"]["details"] =
                    json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": r}]);
            }
            e.to_string()
        };
        let err = g
            .parse(
                400,
                body(
                    400,
                    "INVALID_ARGUMENT",
                    "API key not valid: AIza-test-key",
                    Some("API_KEY_INVALID"),
                )
                .as_bytes(),
            )
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Environment);
        assert!(err.message.contains("API key not valid"), "{err}");
        assert!(!err.message.contains("AIza-test-key"), "{err}");
        let err = g
            .parse(
                429,
                body(429, "RESOURCE_EXHAUSTED", "Quota exceeded", None).as_bytes(),
            )
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Limits);
        assert!(
            err.message.contains("RESOURCE_EXHAUSTED: Quota exceeded"),
            "{err}"
        );
        let err = g
            .parse(
                403,
                body(403, "PERMISSION_DENIED", "denied", None).as_bytes(),
            )
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Environment);
        let err = g
            .parse(
                400,
                body(400, "INVALID_ARGUMENT", "bad image", None).as_bytes(),
            )
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert_eq!(
            g.parse(503, b"overloaded").unwrap_err().kind,
            ErrorKind::Environment
        );
    }

    #[test]
    fn oversized_requests_are_refused_before_sending() {
        let mut req = request();
        req.references = vec![
            Png {
                width: 1,
                height: 1,
                bytes: vec![0; 8 * 1000 * 1000],
            };
            3
        ];
        let err = gemini().prepare(&req).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Limits);
        assert!(err.message.contains("20 MB"), "{err}");
    }
}
