//! A grpc-web client as a browser library speaks it, over HTTP/1.1 (reqwest): length-prefixed
//! frames in the body, the trailers in a final frame flagged 0x80, binary or base64 text.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use prost::Message;

/// What a grpc-web call returned.
#[derive(Debug)]
pub struct Reply {
    pub http_status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub messages: Vec<Vec<u8>>,
    pub trailers: HashMap<String, String>,
}

impl Reply {
    /// `grpc-status` from the trailer frame, or from the headers of a trailers-only reply.
    pub fn grpc_status(&self) -> Option<i32> {
        self.trailers
            .get("grpc-status")
            .cloned()
            .or_else(|| header(&self.headers, "grpc-status"))
            .and_then(|s| s.parse().ok())
    }

    pub fn message<M: Message + Default>(&self, index: usize) -> M {
        M::decode(self.messages.get(index).unwrap_or_else(|| panic!("no message {index}: {self:?}")).as_slice())
            .expect("decode the message")
    }
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Wire format of the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Binary,
    Text,
}

/// One grpc-web call of `path` on `base` (`http://host:port`) with `request`, its token, and
/// extra headers; the whole response body is read (a server stream until it ends).
pub async fn call(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    request: &impl Message,
    token: Option<&str>,
    format: Format,
    extra: &[(&str, &str)],
) -> Reply {
    let mut frame = vec![0u8];
    let encoded = request.encode_to_vec();
    frame.extend_from_slice(&u32::try_from(encoded.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&encoded);
    let (content_type, body) = match format {
        Format::Binary => ("application/grpc-web+proto", frame),
        Format::Text => ("application/grpc-web-text", STANDARD.encode(frame).into_bytes()),
    };
    let mut builder = client
        .post(format!("{base}{path}"))
        .header("content-type", content_type)
        .header("accept", content_type)
        .header("x-grpc-web", "1")
        .body(body);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    let response = builder.send().await.expect("send the grpc-web request");
    let http_status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = header(&headers, "content-type").is_some_and(|ct| ct.starts_with("application/grpc-web-text"));
    let raw = response.bytes().await.expect("read the grpc-web body").to_vec();
    let body = if text { decode_text(&raw) } else { raw };
    let (messages, trailers) = parse_frames(&body);
    Reply { http_status, headers, messages, trailers }
}

/// grpc-web-text is base64 per frame, each padded: decoded four characters at a time.
fn decode_text(raw: &[u8]) -> Vec<u8> {
    let clean: Vec<u8> = raw.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    clean.chunks(4).flat_map(|quad| STANDARD.decode(quad).expect("base64 grpc-web-text")).collect()
}

/// Data frames (flag 0x00) and the trailer frame (flag 0x80: `name:value` lines).
pub fn parse_frames(mut body: &[u8]) -> (Vec<Vec<u8>>, HashMap<String, String>) {
    let (mut messages, mut trailers) = (Vec::new(), HashMap::new());
    while body.len() >= 5 {
        let flag = body[0];
        let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        let payload = &body[5..5 + len];
        if flag & 0x80 != 0 {
            for line in String::from_utf8_lossy(payload).split("\r\n") {
                if let Some((k, v)) = line.split_once(':') {
                    trailers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                }
            }
        } else {
            messages.push(payload.to_vec());
        }
        body = &body[5 + len..];
    }
    (messages, trailers)
}
