//! A denied number, written in any encoding an origin decodes, is never let through.
//!
//! The policy serves only the US and Canada; its routes read a JSON key and a JSON path, form and
//! multipart fields, and a query parameter. The input scripts how a number of another country is
//! written: which number, its international prefix, Unicode digits, separators, where in the
//! body it sits, per-character JSON escapes and percent-encodings, key escapes, decoy fields and
//! an allowed number beside it. Each rendering is one a standard parser (a JSON library, a form
//! decoder, libphonenumber) turns back into that number, so an origin would text it.
//! Property: the decision is never `allow`.

use pumpguard_core::{Action, MemoryStore, Policy};

use crate::frame::Frame;
use crate::run;

const POLICY: &str = r#"{
  "version": 1,
  "default_region": "US",
  "routes": [
    { "id": "json", "kind": "send", "match": { "methods": ["POST"], "path": { "exact": "/json" } },
      "extract": { "json_keys": ["phone"], "json_paths": ["user.contact.mobile"] } },
    { "id": "form", "kind": "send", "match": { "methods": ["POST"], "path": { "exact": "/form" } },
      "extract": { "form_fields": ["phone"] } },
    { "id": "query", "kind": "send", "match": { "methods": ["GET", "POST"], "path": { "exact": "/query" } },
      "extract": { "query_params": ["phone"] } },
    { "id": "split", "kind": "send", "match": { "methods": ["POST"], "path": { "exact": "/split" } },
      "extract": { "split_numbers": [ { "country": "country_code", "national": "phone" } ] } }
  ],
  "rules": [ { "id": "geo", "action": "block", "country": { "allow": ["US", "CA"] } } ]
}"#;

/// Valid mobiles of countries the policy does not serve: (calling code, national number,
/// region, national trunk prefix).
const DENIED: &[(&str, &str, &str, &str)] = &[
    ("234", "8031234567", "NG", "0"),
    ("44", "7400123456", "GB", "0"),
    ("91", "9876543210", "IN", "0"),
    ("63", "9171234567", "PH", "0"),
    ("7", "9123456789", "RU", "8"),
    ("880", "1712345678", "BD", "0"),
    ("1876", "2101234", "JM", "1"),
];
/// An allowed number that may ride along.
const ALLOWED: &str = "+12024561111";

/// Reads choices from the input, zero once it runs out.
struct Script<'a> {
    data: &'a [u8],
    at: usize,
}

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    fn pick(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }
    fn chance(&mut self, in_256: u8) -> bool {
        self.byte() < in_256
    }
}

/// Runs the target on one input.
pub fn run(data: &[u8]) -> String {
    let Ok(policy) = Policy::from_json(POLICY) else { panic!("the target's own policy must load") };
    let mut script = Script { data, at: 0 };
    let number = render_number(&mut script);
    let frame = match script.pick(5) {
        0 => json_request(&mut script, &number),
        1 => form_request(&mut script, &number, false),
        2 => multipart_request(&mut script, &number),
        3 => split_request(&mut script),
        _ => form_request(&mut script, &number, true),
    };
    let lines = run::judge_all(&policy, std::slice::from_ref(&frame), &MemoryStore::new());
    for line in &lines {
        let action = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|d| d.get("action").and_then(|a| a.as_str()).map(str::to_owned));
        assert_ne!(
            action.as_deref(),
            Some(Action::Allow.as_str()),
            "a denied number ({number:?}) got through:\n{}\n{line}",
            String::from_utf8_lossy(&crate::frame::render(std::slice::from_ref(&frame)))
        );
    }
    super::digest_of(&lines)
}

/// The number as a person or a client might write it.
fn render_number(s: &mut Script<'_>) -> String {
    let (cc, national, _, _) = DENIED[s.pick(DENIED.len())];
    let mut out = String::new();
    if s.chance(24) {
        out.push_str(["tel:", "TEL:", " ", "\u{200b}"][s.pick(4)]);
    }
    // International prefixes libphonenumber reads under the US region: `+`, its full-width
    // form, and the US international dialling prefix 011.
    out.push_str(["+", "\u{ff0b}", "011", "011 ", "+ ", "(+"][s.pick(6)]);
    let digits = cc.chars().chain(std::iter::once('|')).chain(national.chars());
    for c in digits {
        if c == '|' {
            if out.starts_with("(+") || out.ends_with("(+") || out.contains("(+") {
                out.push(')');
            }
            if s.chance(160) {
                out.push_str([" ", "-", ".", " (", "/"][s.pick(5)]);
            }
            continue;
        }
        let d = c as u32 - '0' as u32;
        let base = [0x30, 0xff10, 0x0660, 0x0966, 0x06f0][if s.chance(40) { s.pick(5) } else { 0 }];
        out.push(char::from_u32(base + d).unwrap_or(c));
        if s.chance(30) {
            out.push([' ', '-', '.', '\u{00a0}', '\u{2011}'][s.pick(5)]);
        }
    }
    if out.contains(" (") && !out.ends_with(')') {
        out.push(')');
    }
    out
}

fn json_escape_all(s: &mut Script<'_>, text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let forced = matches!(c, '"' | '\\') || (c as u32) < 0x20;
        if forced || s.chance(48) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&if s.chance(128) {
                    format!("\\u{unit:04x}")
                } else {
                    format!("\\u{unit:04X}")
                });
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn json_request(s: &mut Script<'_>, number: &str) -> Frame {
    let key = json_escape_all(s, "phone");
    let value = json_escape_all(s, number);
    let ws = [" ", "", "\n", "\t"][s.pick(4)];
    let body = match s.pick(5) {
        0 => format!("{{{ws}\"{key}\"{ws}:{ws}\"{value}\"{ws}}}"),
        1 => format!("{{\"name\":\"x\",\"{key}\":\"{value}\",\"other\":\"{ALLOWED}\"}}"),
        2 => format!("{{\"user\":{{\"contact\":{{\"mobile\":\"{value}\"}}}},\"note\":\"{ALLOWED}\"}}"),
        3 => format!("[{{\"{key}\":\"{ALLOWED}\"}},{{\"deep\":[{{\"{key}\":\"{value}\"}}]}}]"),
        _ => format!("{{\"{key}\":\"{ALLOWED}\",\"{key}\":\"{value}\"}}"),
    };
    let content_type =
        ["application/json", "application/json; charset=utf-8", "text/json", "application/problem+json"]
            [s.pick(4)];
    Frame {
        advance_ms: 0,
        method: "POST".into(),
        path: "/json".into(),
        client_ip: "198.51.100.7".parse().ok(),
        headers: vec![("content-type".into(), content_type.into())],
        body: body.into_bytes(),
    }
}

/// Percent-encodes as a form decoder reads it back: `+` and other reserved bytes always, any
/// other byte when the script says so, with either hex case; a space may be `+`.
fn percent_encode(s: &mut Script<'_>, text: &str) -> String {
    let mut out = String::new();
    for &b in text.as_bytes() {
        let reserved = !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b' '));
        if b == b' ' && s.chance(128) {
            out.push('+');
        } else if reserved || b == b' ' || s.chance(64) {
            out.push_str(&if s.chance(128) { format!("%{b:02X}") } else { format!("%{b:02x}") });
        } else {
            out.push(char::from(b));
        }
    }
    out
}

fn form_request(s: &mut Script<'_>, number: &str, in_query: bool) -> Frame {
    let key = percent_encode(s, "phone");
    let value = percent_encode(s, number);
    let decoy = percent_encode(s, ALLOWED);
    let pairs = match s.pick(4) {
        0 => format!("{key}={value}"),
        1 => format!("name=x&{key}={value}&to={decoy}"),
        2 => format!("{key}={decoy}&{key}={value}"),
        _ => format!("a=1&&{key}={value}&"),
    };
    let mut frame = Frame {
        advance_ms: 0,
        method: "POST".into(),
        path: "/form".into(),
        client_ip: "198.51.100.7".parse().ok(),
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
        body: pairs.clone().into_bytes(),
    };
    if in_query {
        frame.method = ["GET", "POST"][s.pick(2)].into();
        frame.path = format!("/query?{pairs}");
        frame.headers.clear();
        frame.body.clear();
    }
    frame
}

fn multipart_request(s: &mut Script<'_>, number: &str) -> Frame {
    let boundary = ["pgbound", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "x"][s.pick(3)];
    let name = ["\"phone\"", "phone", "\"PHONE\""][s.pick(3)];
    let mut body =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\n{ALLOWED}\r\n");
    body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name={name}\r\n"));
    if s.chance(64) {
        body.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    }
    body.push_str(&format!("\r\n{number}\r\n--{boundary}--\r\n"));
    Frame {
        advance_ms: 0,
        method: "POST".into(),
        path: "/form".into(),
        client_ip: "198.51.100.7".parse().ok(),
        headers: vec![("content-type".into(), format!("multipart/form-data; boundary={boundary}"))],
        body: body.into_bytes(),
    }
}

/// The number over two fields (`split_numbers`): a calling code or region code, and the national
/// part, maybe with its trunk prefix or in international form.
fn split_request(s: &mut Script<'_>) -> Frame {
    let (cc, national, region, trunk) = DENIED[s.pick(DENIED.len())];
    let country = match s.pick(6) {
        0 => format!("+{cc}"),
        1 => cc.to_owned(),
        2 => format!("00{cc}"),
        3 => region.to_owned(),
        4 => region.to_ascii_lowercase(),
        _ => format!("(+{cc})"),
    };
    let national = match s.pick(4) {
        0 => format!("{trunk}{national}"),
        1 => format!("+{cc}{national}"),
        2 => national.chars().flat_map(|c| [c, ' ']).collect::<String>().trim_end().to_owned(),
        _ => national.to_owned(),
    };
    let (body, content_type) = if s.chance(128) {
        let key = json_escape_all(s, "phone");
        let country = json_escape_all(s, &country);
        let national = json_escape_all(s, &national);
        let body = match s.pick(3) {
            0 => format!("{{\"country_code\":\"{country}\",\"{key}\":\"{national}\"}}"),
            1 => format!("{{\"{key}\":\"{national}\",\"country_code\":\"{country}\"}}"),
            _ => format!("{{\"user\":{{\"country_code\":\"{country}\",\"{key}\":\"{national}\"}}}}"),
        };
        (body, "application/json")
    } else {
        let key = percent_encode(s, "phone");
        let country = percent_encode(s, &country);
        let national = percent_encode(s, &national);
        (format!("country_code={country}&{key}={national}"), "application/x-www-form-urlencoded")
    };
    Frame {
        advance_ms: 0,
        method: "POST".into(),
        path: "/split".into(),
        client_ip: "198.51.100.7".parse().ok(),
        headers: vec![("content-type".into(), content_type.into())],
        body: body.into_bytes(),
    }
}
