//! `docs/protocol.md` is the contract: every message it shows must be read by these types, and
//! written back the same. Examples elide parts with `…`: an elided image (`{…}`) becomes a real
//! image reference, an elided list (`[…]`) an empty one; examples that elide fields (`, …}`) or
//! list alternatives (`a | b`) are skipped and counted.

use easel_protocol::{ImageRef, OperationInfo, Request, ServerMessage};
use serde_json::Value;

const IMAGE: &str =
    r#"{"width": 2, "height": 2, "format": "rgba8", "data": {"fd": 0, "offset": 0}}"#;

/// Replaces `{…anything…}` (an elided image) and `[…]` (an elided list).
fn fill_elisions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("{…") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find('}').map_or(after.len(), |e| e + 1);
        out.push_str(IMAGE);
        rest = &after[end..];
    }
    out.push_str(rest);
    out.replace("[…]", "[]").replace(", …]", "]")
}

/// Inline code spans and ```json blocks that look like messages or image references.
fn examples(doc: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut blocks = doc.split("```json\n");
    blocks.next();
    for b in blocks {
        if let Some(end) = b.find("```") {
            found.push(b[..end].trim().to_string());
        }
    }
    for (i, part) in doc.split('`').enumerate() {
        if i % 2 == 1 && part.starts_with("{\"type\"") {
            found.push(part.to_string());
        }
    }
    found
}

/// `value` read as a `T`, written and read again: the same.
fn round_trip<T>(value: &Value, what: &str, example: &str)
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    let read: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{what} ({e}):\n{example}"));
    let back: T = serde_json::from_value(serde_json::to_value(&read).unwrap()).unwrap();
    assert_eq!(back, read, "{example}");
}

#[test]
fn every_documented_message_is_read_and_written_by_the_types() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/protocol.md"
    ))
    .expect("docs/protocol.md");
    let (mut checked, mut skipped) = (0, 0);
    for example in examples(&doc) {
        if example.contains(", …}") || example.contains(" | ") {
            skipped += 1;
            continue;
        }
        let text = fill_elisions(&example);
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{example}"));
        if value.get("type").is_none() {
            if value.get("data").is_some() {
                round_trip::<ImageRef>(&value, "image reference", &example);
                checked += 1;
            } else if value.get("params").is_some() && value.get("plugin").is_some() {
                round_trip::<OperationInfo>(&value, "operation entry", &example);
                checked += 1;
            } else {
                skipped += 1;
            }
            continue;
        }
        let request = serde_json::from_value::<Request>(value.clone());
        let reply = serde_json::from_value::<ServerMessage>(value.clone());
        match (request, reply) {
            (Ok(r), _) => {
                let back: Request = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
                assert_eq!(back, r, "{example}");
            }
            (_, Ok(m)) => {
                let back: ServerMessage =
                    serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
                assert_eq!(back, m, "{example}");
            }
            (Err(a), Err(b)) => panic!(
                "documented message read by neither side:\n{example}\nas a request: {a}\nas a reply: {b}"
            ),
        }
        checked += 1;
    }
    eprintln!("{checked} documented examples checked, {skipped} skipped");
    assert!(checked >= 20, "only {checked} examples checked");
}
