//! Property tests: no input panics, and numbers placed anywhere in generated documents are
//! found exactly, however their text is escaped.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::path::{render, Spelled};
use super::*;
use crate::config::ConfigErrors;

fn compile(spec: &str) -> Extractor {
    let spec: ExtractSpec = serde_json::from_str(spec).expect("spec parses");
    let mut errs = ConfigErrors::default();
    spec.compile("extract", &mut errs).unwrap_or_else(|| panic!("{errs}"))
}

/// A spec that reads from everywhere, so random input reaches every code path.
fn everything() -> Extractor {
    compile(
        r#"{"preset": "cognito",
            "json_paths": ["a", "a.b", "a[*].c", "[0][1]", "x[2].y[*]"],
            "json_keys": ["b", "phone"],
            "json_name_value": [{"array": "a", "names": ["c", "phone"]}, {"array": "x[*].y", "name_key": "n", "value_key": "v", "names": ["b"]}],
            "form_fields": ["a", "b", "phone"],
            "query_params": ["a", "phone"],
            "token": {"json_path": "t"}}"#,
    )
}

fn form_token() -> Extractor {
    compile(r#"{"form_fields": ["a", "b", "phone"], "token": {"form_field": "t"}}"#)
}

fn parts<'a>(content_type: Option<&'a str>, query: &'a str, body: &'a [u8]) -> RequestParts<'a> {
    RequestParts { content_type, content_encoding: None, query, headers: &[("t", "x")], body }
}

/// Bytes biased towards the syntax of every body type.
fn syntax_bytes() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\\",
        "\\u",
        "00",
        "d8",
        "dc",
        "\"a\"",
        "\"b\"",
        "\"c\"",
        "\"phone\"",
        "\"Name\"",
        "\"Value\"",
        "\"t\"",
        "1",
        "-",
        ".",
        "e",
        "0",
        "true",
        "null",
        " ",
        "\r\n",
        "\n",
        "--B",
        "=",
        "&",
        ";",
        "%",
        "2B",
        "+",
        "a",
        "b",
        "phone",
        "[]",
        "Content-Disposition: form-data; name=",
        "Content-Transfer-Encoding: base64",
        "\u{e9}",
        "\u{1F600}",
        "\u{212A}",
    ]);
    prop::collection::vec(
        prop_oneof![pieces.prop_map(|p| p.as_bytes().to_vec()), any::<u8>().prop_map(|b| vec![b])],
        0..120,
    )
    .prop_map(|chunks| chunks.concat())
}

const CONTENT_TYPES: [&str; 6] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=B",
    "application/x-amz-json-1.1; charset=utf-8",
    "text/plain",
    "multipart/form-data; boundary=\"B\"",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn origin_answers_never_panic(body in prop::collection::vec(any::<u8>(), 0..300), sub in "\\PC{0,140}") {
        for preset in [Preset::Cognito, Preset::SnsPublish, Preset::TwilioVerify, Preset::Firebase, Preset::Supabase, Preset::Auth0, Preset::VonageVerify, Preset::Clerk] {
            let _ = preset.send_answer(Some(&body));
            let answer = serde_json::json!({"UserConfirmed": false, "UserSub": sub, "phone": sub, "request_id": sub, "response": {"id": sub}}).to_string();
            let id = preset.send_answer(Some(answer.as_bytes())).user_id;
            prop_assert!(id.is_none_or(|id| !id.is_empty() && id.len() <= 128 && id == fold_account(&id)));
        }
    }

    /// What a Clerk request's path and strategy name, however they are spelt.
    #[test]
    fn clerk_calls_never_panic(path in "(/(v1|client|me|sign_ins|sign_ups|phone_numbers|sessions|verify|prepare_verification|attempt_first_factor|sia_1|%2F|\\.\\.|;x|\\PC{0,6})){0,8}", body in "((strategy|phone_number|identifier|%73trategy)=(phone_code|email_code|%2B1415555|oauth_x|\\PC{0,6})&?){0,4}") {
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        for method in ["POST", "PATCH"] {
            let req = crate::Request { method, ..super::tests::post(&path, &headers, body.as_bytes()) };
            let _ = Preset::Clerk.path_binding(&req);
            let _ = Preset::Clerk.sends_nothing(&req, false);
            let _ = Preset::Clerk.binds_without_sending(&req);
            let _ = Preset::Clerk.binds_account(&req);
            let _ = Preset::Clerk.confirms_binding(&req);
            let _ = Preset::Clerk.unbound_path_is_numberless(&req);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300), ct in 0usize..6) {
        let query = String::from_utf8_lossy(&body).into_owned();
        for ex in [everything(), form_token()] {
            let _ = ex.extract(&parts(CONTENT_TYPES.get(ct).copied(), &query, &body));
        }
    }

    #[test]
    fn syntax_soup_never_panics(body in syntax_bytes(), ct in 0usize..6) {
        let query = String::from_utf8_lossy(&body).into_owned();
        for ex in [everything(), form_token()] {
            let _ = ex.extract(&parts(CONTENT_TYPES.get(ct).copied(), &query, &body));
        }
    }

    #[test]
    fn arbitrary_content_types_never_panic(ct in "\\PC{0,40}", enc in proptest::option::of("\\PC{0,10}")) {
        let ex = everything();
        let req = RequestParts { content_type: Some(&ct), content_encoding: enc.as_deref(), query: "", headers: &[], body: b"{}" };
        let _ = ex.extract(&req);
    }

    #[test]
    fn arbitrary_specs_never_panic(spec in "\\PC{0,80}", paths in prop::collection::vec("[a-z\\[\\]\\.\\*0-9\"$]{0,12}", 0..6)) {
        let mut errs = ConfigErrors::default();
        if let Ok(spec) = serde_json::from_str::<ExtractSpec>(&spec) {
            let _ = spec.compile("x", &mut errs);
        }
        let spec = ExtractSpec { json_paths: paths.clone(), form_fields: paths.clone(), token: paths.first().cloned().map(TokenSource::JsonPath), ..ExtractSpec::default() };
        if let Some(ex) = spec.compile("x", &mut errs) {
            let _ = ex.extract(&parts(Some("application/json"), "", br#"{"a": [{"b": "+1"}]}"#));
        }
    }
}

/// A path step towards the phone number.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn filler() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z+ 0-9\u{e9}\u{1F600}\"\\\\/\n]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\u{e9}\u{1F600}. ]{1,5}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof!["[a-z\u{e9}\u{1F600}. \"]{1,5}".prop_map(Step::Key), (0usize..4).prop_map(Step::Index),],
        1..7,
    )
}

/// Puts `leaf` at `path` inside `doc`, replacing whatever is in the way.
fn place(doc: &mut Value, path: &[Step], leaf: Value) {
    let Some((step, rest)) = path.split_first() else {
        *doc = leaf;
        return;
    };
    match step {
        Step::Key(key) => {
            if !doc.is_object() {
                *doc = Value::Object(Map::new());
            }
            if let Value::Object(map) = doc {
                place(map.entry(key.clone()).or_insert(Value::Null), rest, leaf);
            }
        }
        Step::Index(index) => {
            if !doc.is_array() {
                *doc = Value::Array(Vec::new());
            }
            if let Value::Array(items) = doc {
                while items.len() <= *index {
                    items.push(Value::Null);
                }
                place(&mut items[*index], rest, leaf);
            }
        }
    }
}

fn spelled(path: &[Step]) -> String {
    render(path.iter().map(|s| match s {
        Step::Key(k) => Spelled::Key(k.into()),
        Step::Index(i) => Spelled::Index(*i),
    }))
}

/// Serialises with every character of every string (keys included) as `\uXXXX` escapes.
fn escape_everything(value: &Value, out: &mut String) {
    fn string(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04X}"));
            }
        }
        out.push('"');
    }
    match value {
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                escape_everything(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(k, out);
                out.push(':');
                escape_everything(v, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn json_numbers(ex: &Extractor, body: &str) -> Result<Vec<(String, String)>, ExtractError> {
    let found = ex.extract(&parts(Some("application/json"), "", body.as_bytes()))?;
    Ok(found.numbers.into_iter().map(|c| (c.raw, c.source.to_string())).collect())
}

fn phone() -> impl Strategy<Value = (Value, String)> {
    prop_oneof![
        "\\+[1-9][0-9]{6,13}".prop_map(|p| (Value::String(p.clone()), p)),
        (1_000_000u64..999_999_999_999_999).prop_map(|n| (Value::from(n), n.to_string())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_number_at_a_configured_path_is_found_exactly(mut doc in filler(), path in steps(), (leaf, text) in phone(), pretty in any::<bool>()) {
        place(&mut doc, &path, leaf);
        let spelled = spelled(&path);
        let ex = compile(&serde_json::json!({ "json_paths": [spelled.clone()] }).to_string());
        let body = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) }.expect("serialises");
        let want = vec![(text, format!("json:{spelled}"))];
        prop_assert_eq!(json_numbers(&ex, &body), Ok(want.clone()));

        let mut escaped = String::new();
        escape_everything(&doc, &mut escaped);
        prop_assert_eq!(json_numbers(&ex, &escaped), Ok(want));
    }

    #[test]
    fn a_key_anywhere_is_found_exactly(mut doc in filler(), path in steps(), (leaf, text) in phone()) {
        // Filler keys are at most 5 characters, so "msisdn" is nowhere else.
        let mut path = path;
        path.push(Step::Key("MSISDN".into()));
        place(&mut doc, &path, leaf);
        let ex = compile(r#"{"json_keys": ["msisdn"]}"#);
        let body = serde_json::to_string(&doc).expect("serialises");
        let want = vec![(text, format!("json:{}", spelled(&path)))];
        prop_assert_eq!(json_numbers(&ex, &body), Ok(want.clone()));

        let mut escaped = String::new();
        escape_everything(&doc, &mut escaped);
        prop_assert_eq!(json_numbers(&ex, &escaped), Ok(want));
    }

    #[test]
    fn escaping_every_character_changes_nothing(doc in filler()) {
        let ex = everything();
        let plain = serde_json::to_string(&doc).expect("serialises");
        let mut escaped = String::new();
        escape_everything(&doc, &mut escaped);
        let a = ex.extract(&parts(Some("application/json"), "", plain.as_bytes()));
        let b = ex.extract(&parts(Some("application/json"), "", escaped.as_bytes()));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn a_form_field_is_found_exactly(
        others in prop::collection::btree_map("[a-z]{1,5}", "\\PC{0,8}", 0..6),
        value in "\\+[0-9]{7,14}|\\PC{1,12}",
        position in 0usize..8,
        encode_all in any::<bool>(),
    ) {
        fn encode(s: &str, all: bool) -> String {
            s.bytes()
                .map(|b| if !all && b.is_ascii_alphanumeric() { char::from(b).to_string() } else if b == b' ' && !all { "+".into() } else { format!("%{b:02X}") })
                .collect()
        }
        let mut pairs: Vec<String> = others.iter().map(|(k, v)| format!("{}={}", encode(k, encode_all), encode(v, encode_all))).collect();
        let position = position.min(pairs.len());
        pairs.insert(position, format!("{}={}", encode("mobile", encode_all), encode(&value, encode_all)));
        let body = pairs.join("&");
        let ex = compile(r#"{"form_fields": ["mobile"], "query_params": ["mobile"]}"#);
        let from_body = ex.extract(&parts(Some("application/x-www-form-urlencoded"), "", body.as_bytes())).map(|x| x.numbers);
        prop_assert_eq!(from_body, Ok(vec![Candidate::new(value.clone(), Source::Form("mobile".into()))]));
        let from_query = ex.extract(&parts(None, &body, b"")).map(|x| x.numbers);
        prop_assert_eq!(from_query, Ok(vec![Candidate::new(value, Source::Query("mobile".into()))]));
    }
}
