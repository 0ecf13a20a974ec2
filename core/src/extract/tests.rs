//! Table-driven tests of the whole module: configuration errors, every error kind, every body
//! type and every preset on realistic requests.

use super::*;
use crate::config::ConfigErrors;

const AT: &str = "routes[0].extract";

fn compile(spec: &str) -> Result<Extractor, Vec<(String, String)>> {
    let spec: ExtractSpec = serde_json::from_str(spec).expect("spec parses");
    let mut errs = ConfigErrors::default();
    let compiled = spec.compile(AT, &mut errs);
    if errs.is_empty() {
        Ok(compiled.expect("no errors means an extractor"))
    } else {
        assert!(compiled.is_none(), "errors but an extractor");
        Err(errs.errors.into_iter().map(|e| (e.path, e.message)).collect())
    }
}

pub(super) fn extractor(spec: &str) -> Extractor {
    compile(spec).unwrap_or_else(|errs| panic!("{spec}: {errs:?}"))
}

#[derive(Clone, Copy, Default)]
pub(super) struct Req<'a> {
    content_type: Option<&'a str>,
    content_encoding: Option<&'a str>,
    query: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
}

impl<'a> Req<'a> {
    fn json(body: &'a str) -> Self {
        Req { content_type: Some("application/json"), body: body.as_bytes(), ..Req::default() }
    }

    pub(super) fn form(body: &'a str) -> Self {
        Req {
            content_type: Some("application/x-www-form-urlencoded"),
            body: body.as_bytes(),
            ..Req::default()
        }
    }

    pub(super) fn multipart(boundary_param: &'a str, body: &'a str) -> Self {
        Req { content_type: Some(boundary_param), body: body.as_bytes(), ..Req::default() }
    }
}

/// `Ok` lists `(raw, source)` of each candidate and the token.
pub(super) type Outcome = Result<(Vec<(String, String)>, Option<String>), &'static str>;

pub(super) fn run(ex: &Extractor, req: Req<'_>) -> Outcome {
    let parts = RequestParts {
        content_type: req.content_type,
        content_encoding: req.content_encoding,
        query: req.query,
        headers: req.headers,
        body: req.body,
    };
    match ex.extract(&parts) {
        Ok(x) => Ok((x.numbers.into_iter().map(|c| (c.raw, c.source.to_string())).collect(), x.token)),
        Err(e) => Err(e.code()),
    }
}

fn found(pairs: &[(&str, &str)]) -> Outcome {
    Ok((pairs.iter().map(|(r, s)| ((*r).to_owned(), (*s).to_owned())).collect(), None))
}

fn found_with_token(pairs: &[(&str, &str)], token: &str) -> Outcome {
    Ok((pairs.iter().map(|(r, s)| ((*r).to_owned(), (*s).to_owned())).collect(), Some(token.to_owned())))
}

fn check_table(spec: &str, table: &[(Req<'_>, Outcome)]) {
    let ex = extractor(spec);
    for (i, (req, want)) in table.iter().enumerate() {
        let got = run(&ex, *req);
        let body = String::from_utf8_lossy(req.body);
        assert_eq!(&got, want, "case {i}: spec {spec}, query {:?}, body {body:?}", req.query);
    }
}

/// A POST of `path` as the presets' path and call readers see it.
pub(super) fn post<'a>(
    path: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
) -> crate::Request<'a> {
    crate::Request {
        method: "POST",
        authority: "www.example.com",
        path,
        version: crate::HttpVersion::Http11,
        headers,
        body,
        body_truncated: false,
        client_ip: None,
        tls: Default::default(),
        edge: Default::default(),
    }
}

// ---------------------------------------------------------------- configuration

#[test]
fn config_errors_name_the_field_and_say_what_is_expected() {
    let long = "x".repeat(65);
    let many_keys: Vec<String> = (0..33).map(|i| format!("k{i}")).collect();
    let deep: Vec<String> =
        (0..4).map(|p| (0..16).map(|s| format!("p{p}s{s}")).collect::<Vec<_>>().join(".")).collect();
    let table: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("{}".into(), vec![(AT, "no phone number source")]),
        (r#"{"token": {"header": "x-captcha"}}"#.into(), vec![(AT, "no phone number source")]),
        (
            r#"{"json_paths": ["phone", "a..b", "", "x[01]"]}"#.into(),
            vec![
                ("routes[0].extract.json_paths[1]", "empty key"),
                ("routes[0].extract.json_paths[2]", "empty path"),
                ("routes[0].extract.json_paths[3]", "not an index"),
            ],
        ),
        (r#"{"json_paths": ["user.phone", "$.User.PHONE"]}"#.into(), vec![("routes[0].extract.json_paths[1]", "same path as json_paths[0]")]),
        (
            r#"{"json_keys": ["", "phone", "Phone"]}"#.into(),
            vec![("routes[0].extract.json_keys[0]", "empty JSON key"), ("routes[0].extract.json_keys[2]", "repeats json_keys[1]")],
        ),
        (format!(r#"{{"json_keys": ["{long}"]}}"#), vec![("routes[0].extract.json_keys[0]", "at most 64")]),
        (format!(r#"{{"json_paths": ["a.{long}"]}}"#), vec![("routes[0].extract.json_paths[0]", "longer than 64")]),
        (r#"{"form_fields": ["to", "TO"]}"#.into(), vec![("routes[0].extract.form_fields[1]", "repeats form_fields[0]")]),
        (r#"{"query_params": [""]}"#.into(), vec![("routes[0].extract.query_params[0]", "empty query parameter")]),
        (
            r#"{"json_name_value": [{"array": "", "names": []}]}"#.into(),
            vec![
                ("routes[0].extract.json_name_value[0].array", "empty path"),
                ("routes[0].extract.json_name_value[0].names", "no names listed"),
            ],
        ),
        (
            r#"{"json_name_value": [{"array": "attrs", "name_key": "k", "value_key": "K", "names": ["phone", ""]}]}"#.into(),
            vec![
                ("routes[0].extract.json_name_value[0].value_key", "also the name key"),
                ("routes[0].extract.json_name_value[0].names[1]", "empty pair name"),
            ],
        ),
        (
            r#"{"json_name_value": [{"array": "a", "names": ["p"]}, {"array": "A", "names": ["q"]}]}"#.into(),
            vec![("routes[0].extract.json_name_value[1].array", "already reads this array")],
        ),
        (
            r#"{"json_name_value": [{"array": "a", "name_key": "", "names": ["p"]}]}"#.into(),
            vec![("routes[0].extract.json_name_value[0].name_key", "empty name key")],
        ),
        (
            r#"{"preset": "cognito", "json_name_value": [{"array": "UserAttributes", "name_key": "N", "names": ["p"]}]}"#.into(),
            vec![("routes[0].extract.json_name_value[0].array", "different keys")],
        ),
        (r#"{"json_keys": ["phone"], "token": {"header": "bad header"}}"#.into(), vec![("routes[0].extract.token.header", "not an HTTP header name")]),
        (r#"{"json_keys": ["phone"], "token": {"header": ""}}"#.into(), vec![("routes[0].extract.token.header", "not an HTTP header name")]),
        (r#"{"json_keys": ["phone"], "token": {"json_path": "a["}}"#.into(), vec![("routes[0].extract.token.json_path", "unterminated")]),
        (r#"{"json_paths": ["phone"], "token": {"json_path": "Phone"}}"#.into(), vec![("routes[0].extract.token.json_path", "also in json_paths")]),
        (r#"{"form_fields": ["phone"], "token": {"form_field": "PHONE"}}"#.into(), vec![("routes[0].extract.token.form_field", "also in form_fields")]),
        (r#"{"form_fields": ["phone"], "token": {"form_field": ""}}"#.into(), vec![("routes[0].extract.token.form_field", "empty form field")]),
        (serde_json::json!({ "json_keys": many_keys }).to_string(), vec![("routes[0].extract.json_keys", "at most 32")]),
        (serde_json::json!({ "json_paths": deep }).to_string(), vec![("routes[0].extract.json_paths[3]", "too many JSON path steps")]),
    ];
    for (spec, want) in &table {
        let errs = compile(spec).err().unwrap_or_else(|| panic!("{spec} compiled"));
        assert_eq!(errs.len(), want.len(), "{spec}: {errs:?}");
        for ((path, message), (want_path, want_message)) in errs.iter().zip(want) {
            assert_eq!(path, want_path, "{spec}: {message}");
            assert!(message.contains(want_message), "{spec}: {path}: {message:?} lacks {want_message:?}");
        }
    }
}

#[test]
fn unknown_fields_and_values_are_refused_by_serde() {
    for bad in [
        r#"{"jsno_keys": ["phone"]}"#,
        r#"{"preset": "cognitoo"}"#,
        r#"{"preset": "Cognito"}"#,
        r#"{"token": {"cookie": "x"}}"#,
        r#"{"token": "x"}"#,
        r#"{"json_name_value": [{"array": "a", "names": ["p"], "extra": 1}]}"#,
        r#"{"json_name_value": [{"array": "a"}]}"#,
    ] {
        assert!(serde_json::from_str::<ExtractSpec>(bad).is_err(), "{bad}");
    }
}

#[test]
fn accepted_configurations() {
    for ok in [
        r#"{"preset": "cognito"}"#,
        r#"{"preset": "sns_publish"}"#,
        r#"{"preset": "twilio_verify"}"#,
        r#"{"preset": "firebase"}"#,
        r#"{"preset": "firebase", "json_paths": ["phoneNumber"], "token": {"header": "cf-turnstile-response"}}"#,
        r#"{"preset": "cognito", "json_name_value": [{"array": "UserAttributes", "names": ["custom:mobile"]}]}"#,
        r#"{"json_keys": ["phone"], "form_fields": ["phone"], "query_params": ["phone"], "token": {"header": "cf-turnstile-response"}}"#,
        r#"{"json_paths": ["$[0].to", "a[\"x.y\"]"], "token": {"json_path": "captcha.token"}}"#,
        r#"{"form_fields": ["phone"], "token": {"form_field": "cf-turnstile-response"}}"#,
    ] {
        if let Err(errs) = compile(ok) {
            panic!("{ok}: {errs:?}");
        }
    }
}

// ---------------------------------------------------------------- JSON

#[test]
fn json_paths_and_keys() {
    let spec =
        r#"{"json_paths": ["user.phone", "recipients[*].to", "data[0].msisdn"], "json_keys": ["mobile"]}"#;
    check_table(
        spec,
        &[
            (
                Req::json(r#"{"user": {"phone": "+14155550123"}}"#),
                found(&[("+14155550123", "json:$.user.phone")]),
            ),
            (Req::json(r#"{"User": {"PHONE": "+1"}}"#), found(&[("+1", "json:$.User.PHONE")])),
            (
                Req::json(r#"{"recipients": [{"to": "+1"}, {"to": "+2"}, {"cc": "+3"}]}"#),
                found(&[("+1", "json:$.recipients[0].to"), ("+2", "json:$.recipients[1].to")]),
            ),
            (
                Req::json(r#"{"data": [{"msisdn": "+1"}, {"msisdn": "+2"}]}"#),
                found(&[("+1", "json:$.data[0].msisdn")]),
            ),
            (
                Req::json(r#"{"a": {"b": [{"mobile": "+1"}]}, "mobile": "+2"}"#),
                found(&[("+1", "json:$.a.b[0].mobile"), ("+2", "json:$.mobile")]),
            ),
            (
                Req::json(r#"{"user": {"phone": 14155550123}}"#),
                found(&[("14155550123", "json:$.user.phone")]),
            ),
            (
                Req::json(r#"{"user": {"phone": -14155550123}}"#),
                found(&[("-14155550123", "json:$.user.phone")]),
            ),
            (Req::json(r#"{"user": {"phone": 1.4155550123e10}}"#), Err("ambiguous_field")),
            (Req::json(r#"{"user": {"phone": 14155550123.0}}"#), Err("ambiguous_field")),
            (Req::json(r#"{"user": {"phone": 1.5, "x": 2.5}, "y": 1e9}"#), Err("ambiguous_field")),
            (Req::json(r#"{"user": {"x": 2.5}, "y": 1e9}"#), found(&[])),
            (
                Req::json(r#"{"user": {"phone": ["+1", "+2"]}}"#),
                found(&[("+1", "json:$.user.phone[0]"), ("+2", "json:$.user.phone[1]")]),
            ),
            (Req::json(r#"{"user": {"phone": [["+1"]]}}"#), found(&[("+1", "json:$.user.phone[0][0]")])),
            (Req::json(r#"{"user": {"phone": {"number": "+1"}}}"#), found(&[])),
            (Req::json(r#"{"user": {"phone": null}, "mobile": true}"#), found(&[])),
            (Req::json(r#"{"user": {"phone": ""}}"#), found(&[])),
            (Req::json(r#"{"user": "x", "phone": "+1"}"#), found(&[])),
            (Req::json(r#"["+1", {"mobile": "+2"}]"#), found(&[("+2", "json:$[1].mobile")])),
            (Req::json(r#""+1""#), found(&[])),
            (Req::json("  {\"mobile\"\t:\r\n\"+1\" }  \n"), found(&[("+1", "json:$.mobile")])),
            (Req::json(r#"{"odd.key": {"mobile": "+1"}}"#), found(&[("+1", r#"json:$["odd.key"].mobile"#)])),
            (Req::json(""), found(&[])),
        ],
    );
}

#[test]
fn json_deep_documents_spill_past_the_inline_frames() {
    let ex = extractor(r#"{"json_keys": ["phone"], "json_paths": ["a[0].a[0].a[0].a[0].a[0].a[0].x"]}"#);
    let deep = format!("{}{{\"phone\": \"+1\", \"x\": 5}}{}", r#"{"a": ["#.repeat(6), "]}".repeat(6));
    let prefix = "$.a[0]".to_owned() + &".a[0]".repeat(5);
    assert_eq!(
        run(&ex, Req::json(&deep)),
        found(&[("+1", &format!("json:{prefix}.phone")), ("5", &format!("json:{prefix}.x"))])
    );
    let dup_deep =
        format!("{}{{\"phone\": \"+1\", \"Phone\": \"+2\"}}{}", r#"{"a": ["#.repeat(10), "]}".repeat(10));
    assert_eq!(run(&ex, Req::json(&dup_deep)), Err("ambiguous_field"));
}

#[test]
fn json_escapes_are_decoded() {
    let spec = r#"{"json_keys": ["phone"], "json_paths": ["user.name"]}"#;
    check_table(
        spec,
        &[
            (
                Req::json(r#"{"ph\u006fne": "\u002B234\u00380\u0033\u0031234567"}"#),
                found(&[("+2348031234567", "json:$.phone")]),
            ),
            (Req::json(r#"{"\u0050\u0048\u004F\u004E\u0045": "+1"}"#), found(&[("+1", "json:$.PHONE")])),
            (
                Req::json(r#"{"phone": "+1\/2 \"q\" \\ \b\f\n\r\t"}"#),
                found(&[("+1/2 \"q\" \\ \u{8}\u{c}\n\r\t", "json:$.phone")]),
            ),
            (Req::json(r#"{"phone": "\ud83d\ude00+1"}"#), found(&[("😀+1", "json:$.phone")])),
            (Req::json(r#"{"us\u0065r": {"n\u0061me": "é+1"}}"#), found(&[("é+1", "json:$.user.name")])),
            (Req::json(r#"{"\u212Aey": 1, "p\u0068one": "+1"}"#), found(&[("+1", "json:$.phone")])),
            (Req::json(r#"{"phone": "\ud83d"}"#), Err("body_malformed")),
            (Req::json(r#"{"phone": "\ude00"}"#), Err("body_malformed")),
            (Req::json(r#"{"phone": "\ud83d\u0041"}"#), Err("body_malformed")),
            (Req::json(r#"{"phone": "\u12"}"#), Err("body_malformed")),
            (Req::json(r#"{"phone": "\x41"}"#), Err("body_malformed")),
            (Req::json(r#"{"other": "\q"}"#), Err("body_malformed")),
        ],
    );
}

#[test]
fn json_duplicate_keys_are_ambiguous() {
    let spec = r#"{"json_keys": ["phone"], "json_paths": ["user.mobile"]}"#;
    check_table(
        spec,
        &[
            (Req::json(r#"{"phone": "+1", "phone": "+2"}"#), Err("ambiguous_field")),
            (Req::json(r#"{"phone": "+1", "PHONE": "+2"}"#), Err("ambiguous_field")),
            (Req::json(r#"{"phone": "+1", "ph\u006Fne": "+1"}"#), Err("ambiguous_field")),
            (Req::json(r#"{"user": {"mobile": "+1"}, "user": {"x": 1}}"#), Err("ambiguous_field")),
            (Req::json(r#"{"user": {"mobile": "+1", "Mobile": "+2"}}"#), Err("ambiguous_field")),
            (Req::json(r#"{"name": "a", "name": "b", "phone": "+1"}"#), found(&[("+1", "json:$.phone")])),
            (
                Req::json(
                    r#"{"phone": "+1", "nested": {"phone": "+2"}, "list": [{"phone": "+3"}, {"phone": "+4"}]}"#,
                ),
                found(&[
                    ("+1", "json:$.phone"),
                    ("+2", "json:$.nested.phone"),
                    ("+3", "json:$.list[0].phone"),
                    ("+4", "json:$.list[1].phone"),
                ]),
            ),
        ],
    );
}

#[test]
fn json_that_does_not_parse_is_malformed() {
    let ex = extractor(r#"{"json_keys": ["phone"]}"#);
    let deep_ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
    let too_deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(65), "}".repeat(65));
    assert_eq!(run(&ex, Req::json(&deep_ok)), found(&[]));
    for bad in [
        "{",
        "}",
        "[1,]",
        r#"{"phone": "+1",}"#,
        r#"{"phone" "+1"}"#,
        r#"{"phone": "+1" "x": 1}"#,
        r#"{phone: "+1"}"#,
        r#"{"phone": '+1'}"#,
        r#"{"phone": "+1"} x"#,
        r#"{"phone": "+1"}{}"#,
        r#"{"a": 01}"#,
        r#"{"a": -}"#,
        r#"{"a": 1.}"#,
        r#"{"a": 1e}"#,
        r#"{"a": .5}"#,
        r#"{"a": +1}"#,
        r#"{"a": tru}"#,
        r#"{"a": nul}"#,
        r#"{"a": NaN}"#,
        "{\"phone\": \"+1\u{1}\"}",
        "{\"phone\": \"+1\n\"}",
        "\u{feff}{\"phone\": \"+1\"}",
        r#"{"phone": "+1"#,
        "[1 2]",
        "[1}",
        "{\"a\": 1]",
        "   ",
        &too_deep,
        &deep_objects,
    ] {
        assert_eq!(run(&ex, Req::json(bad)), Err("body_malformed"), "{bad:?}");
    }
    let invalid_utf8 =
        Req { content_type: Some("application/json"), body: b"{\"phone\": \"+1\xff\"}", ..Req::default() };
    assert_eq!(run(&ex, invalid_utf8), Err("body_malformed"));
    let overlong =
        Req { content_type: Some("application/json"), body: b"{\"phone\": \"\xc0\xab1\"}", ..Req::default() };
    assert_eq!(run(&ex, overlong), Err("body_malformed"));
}

#[test]
fn json_name_value_pairs() {
    let spec = r#"{"json_name_value": [{"array": "attrs", "names": ["phone_number", "custom:mobile"]}]}"#;
    check_table(
        spec,
        &[
            (
                Req::json(
                    r#"{"attrs": [{"Name": "email", "Value": "a@b.c"}, {"Name": "phone_number", "Value": "+1"}]}"#,
                ),
                found(&[("+1", "json:$.attrs[1].Value")]),
            ),
            (
                Req::json(r#"{"attrs": [{"Value": "+1", "Name": "phone_number"}]}"#),
                found(&[("+1", "json:$.attrs[0].Value")]),
            ),
            (
                Req::json(r#"{"attrs": [{"name": "PHONE_NUMBER", "value": "+1"}]}"#),
                found(&[("+1", "json:$.attrs[0].value")]),
            ),
            (
                Req::json(r#"{"attrs": [{"Name": "phone_n\u0075mber", "Value": "\u002b1"}]}"#),
                found(&[("+1", "json:$.attrs[0].Value")]),
            ),
            (
                Req::json(
                    r#"{"attrs": [{"Name": "phone_number", "Value": "+1"}, {"Name": "custom:mobile", "Value": "+2"}]}"#,
                ),
                found(&[("+1", "json:$.attrs[0].Value"), ("+2", "json:$.attrs[1].Value")]),
            ),
            (
                Req::json(r#"{"attrs": [{"Name": "phone_number", "Value": 14155550123}]}"#),
                found(&[("14155550123", "json:$.attrs[0].Value")]),
            ),
            (Req::json(r#"{"attrs": [{"Name": "phone_number", "Value": 1e10}]}"#), Err("ambiguous_field")),
            (Req::json(r#"{"attrs": [{"Name": "email", "Value": 1e10}]}"#), found(&[])),
            (Req::json(r#"{"attrs": [{"Name": "phone_number"}]}"#), found(&[])),
            (Req::json(r#"{"attrs": [{"Name": "phone_number", "Value": null}]}"#), found(&[])),
            (Req::json(r#"{"attrs": [{"Name": "phone_number", "Value": ""}]}"#), found(&[])),
            (Req::json(r#"{"attrs": [{"Name": "phone_number", "Value": {"v": "+1"}}]}"#), found(&[])),
            (Req::json(r#"{"attrs": [{"Name": ["phone_number"], "Value": "+1"}]}"#), found(&[])),
            (
                Req::json(r#"{"attrs": [{"Name": "phone_number", "Value": "+1", "Value": "+2"}]}"#),
                Err("ambiguous_field"),
            ),
            (
                Req::json(r#"{"attrs": [{"Name": "phone_number", "name": "email", "Value": "+1"}]}"#),
                Err("ambiguous_field"),
            ),
            (Req::json(r#"{"attrs": ["phone_number", "+1", {}, [], {"Name": "x"}]}"#), found(&[])),
            (Req::json(r#"{"other": [{"Name": "phone_number", "Value": "+1"}]}"#), found(&[])),
            (Req::json(r#"{"attrs": {"Name": "phone_number", "Value": "+1"}}"#), found(&[])),
        ],
    );
}

#[test]
fn json_token() {
    let spec = r#"{"json_keys": ["phone"], "token": {"json_path": "captcha[*].token"}}"#;
    check_table(
        spec,
        &[
            (
                Req::json(r#"{"phone": "+1", "captcha": [{"token": "t\u0031"}]}"#),
                found_with_token(&[("+1", "json:$.phone")], "t1"),
            ),
            (Req::json(r#"{"captcha": [{"token": "a"}, {"token": "a"}]}"#), found_with_token(&[], "a")),
            (Req::json(r#"{"captcha": [{"token": "a"}, {"token": "b"}]}"#), Err("ambiguous_field")),
            (Req::json(r#"{"captcha": [{"token": 5}]}"#), found(&[])),
            (Req::json(r#"{"captcha": [{"token": ""}]}"#), found_with_token(&[], "")),
        ],
    );
}

#[test]
fn json_account() {
    let account = |spec: &str, body: &str| {
        let parts = RequestParts {
            content_type: Some("application/json"),
            content_encoding: None,
            query: "",
            headers: &[],
            body: body.as_bytes(),
        };
        extractor(spec).extract(&parts).map(|x| (x.numbers.len(), x.account)).map_err(|e| e.code())
    };
    let spec = r#"{"json_keys": ["phone"], "account_json_paths": ["user.name", "login"]}"#;
    let some = |n: usize, a: &str| Ok((n, Some(a.to_owned())));
    // Trimmed and lower-cased, as a service matching names loosely reads them.
    assert_eq!(account(spec, r#"{"user": {"name": "  Alice@Example.COM "}}"#), some(0, "alice@example.com"));
    assert_eq!(account(spec, r#"{"user": {"name": "Ünal"}, "phone": "+1"}"#), some(1, "ünal"));
    // The same account twice is one; two different ones are ambiguous, as are two keys.
    assert_eq!(account(spec, r#"{"user": {"name": "bob"}, "login": "BOB"}"#), some(0, "bob"));
    assert_eq!(account(spec, r#"{"user": {"name": "bob"}, "login": "eve"}"#), Err("ambiguous_field"));
    assert_eq!(account(spec, r#"{"login": "bob", "LOGIN": "eve"}"#), Err("ambiguous_field"));
    // Empty, blank or not a string: no account.
    for body in [r#"{"login": ""}"#, r#"{"login": "   "}"#, r#"{"login": 7}"#, r#"{"other": "bob"}"#] {
        assert_eq!(account(spec, body), Ok((0, None)), "{body}");
    }
    // Long names are kept whole: tokens naming a user share long prefixes.
    let long = |end: &str| format!(r#"{{"login": "{}{end}"}}"#, "é".repeat(2000));
    assert_ne!(account(spec, &long("a")), account(spec, &long("b")));
    // The presets: Cognito's user names (a phone number one is both), Firebase's enrolment.
    let cognito = r#"{"preset": "cognito"}"#;
    assert_eq!(account(cognito, r#"{"Username": "Alice"}"#), some(0, "alice"));
    assert_eq!(account(cognito, r#"{"Username": "+14155550123"}"#), some(1, "+14155550123"));
    assert_eq!(account(cognito, r#"{"AuthParameters": {"USERNAME": "dave"}}"#), some(0, "dave"));
    let firebase = r#"{"preset": "firebase"}"#;
    assert_eq!(account(firebase, r#"{"mfaEnrollmentId": "E1"}"#), some(0, "e1"));
    // A value a number source's filter turns away names the recipient another way: the account.
    assert_eq!(account(r#"{"json_paths": ["u"], "plus_only": ["u"]}"#, r#"{"u": "Bob"}"#), some(0, "bob"));
    let form = |spec: &str, body: &str| {
        extractor(spec).extract(&RequestParts {
            content_type: Some("application/x-www-form-urlencoded"),
            content_encoding: None,
            query: "",
            headers: &[],
            body: body.as_bytes(),
        })
    };
    let twilio = r#"{"preset": "twilio_verify"}"#;
    let email = form(twilio, "To=Alice%40Example.com&Channel=email").map(|x| (x.numbers.len(), x.account));
    assert_eq!(email.map_err(|e| e.code()), some(0, "alice@example.com"));
    let sms = form(twilio, "To=%2B14155550123&Channel=sms").map(|x| (x.numbers.len(), x.account));
    assert_eq!(sms.map_err(|e| e.code()), Ok((1, None)));
    // A spec of accounts alone is a spec.
    assert_eq!(account(r#"{"account_json_paths": ["login"]}"#, r#"{"login": "x"}"#), some(0, "x"));
}

// ---------------------------------------------------------------- forms and query strings

#[test]
fn urlencoded_forms() {
    let spec = r#"{"form_fields": ["phone", "alt"], "token": {"form_field": "cf-turnstile-response"}}"#;
    check_table(
        spec,
        &[
            (Req::form("phone=%2B14155550123&name=Ann"), found(&[("+14155550123", "form:phone")])),
            (Req::form("phone=+1+415+555+0123"), found(&[(" 1 415 555 0123", "form:phone")])),
            (Req::form("PHONE=1&Alt=2"), found(&[("1", "form:PHONE"), ("2", "form:Alt")])),
            (Req::form("ph%6Fne=%2B1"), found(&[("+1", "form:phone")])),
            (Req::form("phone%5B%5D=%2B1"), found(&[("+1", "form:phone[]")])),
            (Req::form("phone[]=%2B1"), found(&[("+1", "form:phone[]")])),
            (Req::form("phone[0]=%2B1&phone[1]=%2B2"), Err("ambiguous_field")),
            (Req::form("phone=%2B1&phone=%2B2"), Err("ambiguous_field")),
            (Req::form("phone=%2B1&Phone=%2B1"), Err("ambiguous_field")),
            (Req::form("phone=&phone=%2B1"), Err("ambiguous_field")),
            (Req::form("phone=%2B1;phone=%2B2"), Err("ambiguous_field")),
            (Req::form("x=1;phone=%2B2"), Err("ambiguous_field")),
            (Req::form("x=1;y=2&phone=%2B1"), found(&[("+1", "form:phone")])),
            (Req::form("phone"), found(&[])),
            (Req::form("phone="), found(&[])),
            (Req::form("&&phone=1&&"), found(&[("1", "form:phone")])),
            (Req::form("=x&phone=1"), found(&[("1", "form:phone")])),
            (Req::form("phone=a=b"), found(&[("a=b", "form:phone")])),
            (Req::form("phone=%E2%82%AC"), found(&[("€", "form:phone")])),
            (Req::form("phone=%zz"), Err("body_malformed")),
            (Req::form("phone=%2"), Err("body_malformed")),
            (Req::form("other=50%"), Err("body_malformed")),
            (Req::form("phone=%FF"), Err("body_malformed")),
            (Req::form("other=%FF&phone=1"), found(&[("1", "form:phone")])),
            (
                Req::form("phone=1&cf-turnstile-response=tok.en"),
                found_with_token(&[("1", "form:phone")], "tok.en"),
            ),
            (Req::form("CF-Turnstile-Response=a&cf-turnstile-response=a"), found_with_token(&[], "a")),
            (Req::form("cf-turnstile-response=a&cf-turnstile-response=b"), Err("ambiguous_field")),
        ],
    );
}

#[test]
fn query_parameters_are_read_whatever_the_body() {
    let spec = r#"{"query_params": ["to"], "json_keys": ["phone"]}"#;
    let with_query = |query, body| Req { query, ..Req::json(body) };
    check_table(
        spec,
        &[
            (with_query("to=%2B1&x=y", ""), found(&[("+1", "query:to")])),
            (
                with_query("to=%2B1", r#"{"phone": "+2"}"#),
                found(&[("+1", "query:to"), ("+2", "json:$.phone")]),
            ),
            (Req { query: "to=%2B1", ..Req::default() }, found(&[("+1", "query:to")])),
            (
                Req { query: "to=%2B1", content_type: Some("image/png"), body: b"\x89PNG", ..Req::default() },
                Err("unsupported_content_type"),
            ),
            (with_query("to=1&TO=2", ""), Err("ambiguous_field")),
            (with_query("to=%G1", ""), Err("body_malformed")),
            (with_query("to=%C3%28", ""), Err("body_malformed")),
            (with_query("to=1;to=2", ""), Err("ambiguous_field")),
            (with_query("", r#"{"phone": "+2"}"#), found(&[("+2", "json:$.phone")])),
        ],
    );
}

// ---------------------------------------------------------------- multipart

#[test]
fn multipart_forms() {
    let spec = r#"{"form_fields": ["phone"], "token": {"form_field": "cf-turnstile-response"}}"#;
    let ct = "multipart/form-data; boundary=XyZ";
    let part = |name: &str, value: &str| {
        format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let simple = format!("{}{}--XyZ--\r\n", part("name", "Ann"), part("phone", "+14155550123"));
    let with_token = format!("{}{}--XyZ--", part("phone", "+1"), part("cf-turnstile-response", "tok"));
    let duplicate = format!("{}{}--XyZ--\r\n", part("phone", "+1"), part("Phone", "+2"));
    let preamble = format!("This is a preamble.\r\n{}--XyZ--\r\nepilogue", part("phone", "+1"));
    let unterminated = part("phone", "+1");
    let multi_line = "--XyZ\r\ncontent-disposition: Form-Data ; Name=phone ; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n+1\r\nline 2\r\n--XyZ--";
    let padded = "--XyZ \t\r\nContent-Disposition: form-data; name=\"phone\"\r\nContent-Transfer-Encoding: 8BIT\r\n\r\n+1\r\n--XyZ--";
    let base64 = "--XyZ\r\nContent-Disposition: form-data; name=\"phone\"\r\nContent-Transfer-Encoding: base64\r\n\r\nKzE=\r\n--XyZ--";
    let base64_elsewhere = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Transfer-Encoding: base64\r\n\r\nKzE=\r\n--XyZ--";
    let bare_lf = "--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nhidden\n--XyZ\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n+1\r\n--XyZ--";
    let escaped_name = "--XyZ\r\nContent-Disposition: form-data; name=\"pho\\ne\"\r\n\r\n+1\r\n--XyZ--";
    let escaped_other = "--XyZ\r\nContent-Disposition: form-data; name=\"a\\\"b\"\r\n\r\n+1\r\n--XyZ--";
    let no_disposition = "--XyZ\r\nContent-Type: text/plain\r\n\r\n+1\r\n--XyZ--";
    let no_name = "--XyZ\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\n+1\r\n--XyZ--";
    let not_form_data = "--XyZ\r\nContent-Disposition: attachment; name=\"phone\"\r\n\r\n+1\r\n--XyZ--";
    let two_names =
        "--XyZ\r\nContent-Disposition: form-data; name=\"x\"; name=\"phone\"\r\n\r\n+1\r\n--XyZ--";
    let two_dispositions = "--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n+1\r\n--XyZ--";
    let folded = "--XyZ\r\nContent-Disposition: form-data;\r\n name=\"phone\"\r\n\r\n+1\r\n--XyZ--";
    let lf_headers = "--XyZ\nContent-Disposition: form-data; name=\"phone\"\n\n+1\n--XyZ--";
    let empty_value = format!("{}--XyZ--", part("phone", ""));
    let no_boundary = "just text";
    let not_utf8 = "--XyZ\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n\u{0}\r\n--XyZ--"
        .replace('\u{0}', "\u{7f}");
    let boundary_prefix =
        "--XyZ\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n+1\r\n--XyZW\r\n--XyZ--";
    let table: Vec<(Req<'_>, Outcome)> = vec![
        (Req::multipart(ct, &simple), found(&[("+14155550123", "form:phone")])),
        (
            Req::multipart("multipart/form-data; boundary=\"XyZ\"", &simple),
            found(&[("+14155550123", "form:phone")]),
        ),
        (
            Req::multipart("Multipart/Form-Data;Boundary=XyZ", &simple),
            found(&[("+14155550123", "form:phone")]),
        ),
        (Req::multipart(ct, &with_token), found_with_token(&[("+1", "form:phone")], "tok")),
        (Req::multipart(ct, &duplicate), Err("ambiguous_field")),
        (Req::multipart(ct, &preamble), found(&[("+1", "form:phone")])),
        (Req::multipart(ct, &unterminated), Err("body_malformed")),
        (Req::multipart(ct, multi_line), found(&[("+1\r\nline 2", "form:phone")])),
        (Req::multipart(ct, padded), found(&[("+1", "form:phone")])),
        (Req::multipart(ct, base64), Err("unsupported_encoding")),
        (Req::multipart(ct, base64_elsewhere), found(&[])),
        (Req::multipart(ct, bare_lf), Err("ambiguous_field")),
        (Req::multipart(ct, escaped_name), Err("ambiguous_field")),
        (Req::multipart(ct, escaped_other), found(&[])),
        (Req::multipart(ct, no_disposition), Err("body_malformed")),
        (Req::multipart(ct, no_name), Err("body_malformed")),
        (Req::multipart(ct, not_form_data), Err("body_malformed")),
        (Req::multipart(ct, two_names), Err("ambiguous_field")),
        (Req::multipart(ct, two_dispositions), Err("ambiguous_field")),
        (Req::multipart(ct, folded), Err("body_malformed")),
        (Req::multipart(ct, lf_headers), Err("body_malformed")),
        (Req::multipart(ct, &empty_value), found(&[])),
        (Req::multipart(ct, no_boundary), Err("body_malformed")),
        (Req::multipart(ct, &not_utf8), found(&[("\u{7f}", "form:phone")])),
        (Req::multipart(ct, boundary_prefix), Err("body_malformed")),
        (Req::multipart("multipart/form-data", &simple), Err("body_malformed")),
        (Req::multipart("multipart/mixed; boundary=XyZ", &simple), Err("unsupported_content_type")),
    ];
    let ex = extractor(spec);
    for (i, (req, want)) in table.iter().enumerate() {
        assert_eq!(&run(&ex, *req), want, "case {i}: {:?}", String::from_utf8_lossy(req.body));
    }
    let invalid = Req {
        content_type: Some(ct),
        body: b"--XyZ\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n\xff\r\n--XyZ--",
        ..Req::default()
    };
    assert_eq!(run(&ex, invalid), Err("body_malformed"));
}

// ---------------------------------------------------------------- body types, encodings, headers

#[test]
fn content_types_and_encodings() {
    let json_only = r#"{"json_keys": ["phone"], "query_params": ["phone"]}"#;
    let body = r#"{"phone": "+1"}"#;
    let typed = |ct: &'static str| Req { content_type: Some(ct), ..Req::json(body) };
    let encoded = |enc: &'static str| Req { content_encoding: Some(enc), ..Req::json(body) };
    check_table(
        json_only,
        &[
            (typed("application/json; charset=utf-8"), found(&[("+1", "json:$.phone")])),
            (typed("APPLICATION/JSON;CHARSET=UTF-8"), found(&[("+1", "json:$.phone")])),
            (typed("application/problem+json"), found(&[("+1", "json:$.phone")])),
            (typed("application/x-amz-json-1.1"), found(&[("+1", "json:$.phone")])),
            (typed("application/json; charset=iso-8859-1"), Err("unsupported_content_type")),
            (typed("text/plain"), Err("unsupported_content_type")),
            (typed("application/x-www-form-urlencoded"), Err("unsupported_content_type")),
            (typed("multipart/form-data; boundary=x"), Err("unsupported_content_type")),
            (Req { content_type: None, ..Req::json(body) }, Err("unsupported_content_type")),
            (encoded("identity"), found(&[("+1", "json:$.phone")])),
            (encoded("gzip"), Err("unsupported_encoding")),
            (encoded("GZIP, identity"), Err("unsupported_encoding")),
            (Req { content_encoding: Some("br"), body: b"", ..Req::json("") }, found(&[])),
            (Req { content_type: Some("text/plain"), ..Req::json("") }, found(&[])),
            (
                Req { content_type: None, query: "phone=%2B1", ..Req::json("") },
                found(&[("+1", "query:phone")]),
            ),
        ],
    );
    // A route with only query parameters and a header token ignores the body entirely.
    let query_only = extractor(r#"{"query_params": ["phone"], "token": {"header": "x-captcha"}}"#);
    let req = Req {
        content_type: Some("image/png"),
        content_encoding: Some("gzip"),
        body: b"\x00\x01",
        query: "phone=1",
        ..Req::default()
    };
    assert_eq!(run(&query_only, req), found(&[("1", "query:phone")]));
}

#[test]
fn header_token() {
    let spec = r#"{"json_keys": ["phone"], "token": {"header": "CF-Turnstile-Response"}}"#;
    check_table(
        spec,
        &[
            (
                Req { headers: &[("cf-turnstile-response", "0.abc")], ..Req::json(r#"{"phone": "+1"}"#) },
                found_with_token(&[("+1", "json:$.phone")], "0.abc"),
            ),
            (
                Req { headers: &[("x-other", "1")], ..Req::json(r#"{"phone": "+1"}"#) },
                found(&[("+1", "json:$.phone")]),
            ),
            (
                Req {
                    headers: &[("cf-turnstile-response", "a"), ("cf-turnstile-response", "a")],
                    ..Req::default()
                },
                found_with_token(&[], "a"),
            ),
            (
                Req {
                    headers: &[("cf-turnstile-response", "a"), ("cf-turnstile-response", "b")],
                    ..Req::default()
                },
                Err("ambiguous_field"),
            ),
        ],
    );
}

#[test]
fn error_codes_and_messages() {
    let errors = [
        (ExtractError::Malformed { detail: "x".into() }, "body_malformed", "malformed request: x"),
        (
            ExtractError::UnsupportedEncoding { encoding: "gzip".into() },
            "unsupported_encoding",
            "Content-Encoding \"gzip\"",
        ),
        (
            ExtractError::UnsupportedContentType { content_type: "text/plain".into() },
            "unsupported_content_type",
            "\"text/plain\"",
        ),
        (
            ExtractError::UnsupportedContentType { content_type: String::new() },
            "unsupported_content_type",
            "no Content-Type",
        ),
        (ExtractError::Ambiguous { detail: "y".into() }, "ambiguous_field", "ambiguous request: y"),
    ];
    for (error, code, text) in errors {
        assert_eq!(error.code(), code);
        let shown = error.to_string();
        assert!(shown.contains(text) && !shown.contains('\n'), "{shown}");
    }
    assert_eq!(Source::Json("$.a".into()).to_string(), "json:$.a");
    assert_eq!(Source::Form("a".into()).to_string(), "form:a");
    assert_eq!(Source::Query("a".into()).to_string(), "query:a");
}

// ---------------------------------------------------------------- presets

#[test]
fn preset_cognito() {
    let sign_up = r#"{
        "ClientId": "1example23456789",
        "Username": "mary_major",
        "Password": "P4ssw0rd!",
        "SecretHash": "YjhmYmQ1...",
        "UserAttributes": [
            {"Name": "email", "Value": "mary@example.com"},
            {"Name": "phone_number", "Value": "+2348031234567"}
        ],
        "ValidationData": [{"Name": "phone_number", "Value": "+15555550100"}],
        "ClientMetadata": {"phone_number": "+15555550101"},
        "AnalyticsMetadata": {"AnalyticsEndpointId": "abc"},
        "UserContextData": {"EncodedData": "e", "IpAddress": "192.0.2.1"}
    }"#;
    let sign_up_phone_username = r#"{"ClientId": "1example23456789", "Username": "+14155550123", "Password": "P4ssw0rd!",
        "UserAttributes": [{"Name": "phone_number", "Value": "+14155550123"}]}"#;
    let forgot = r#"{"ClientId": "1example23456789", "Username": "+2348031234567", "SecretHash": "x",
        "AnalyticsMetadata": {"AnalyticsEndpointId": "a"}, "UserContextData": {"EncodedData": "e"}, "ClientMetadata": {}}"#;
    let forgot_by_name = r#"{"ClientId": "1example23456789", "Username": "mary_major"}"#;
    let resend =
        r#"{"ClientId": "1example23456789", "Username": "+14155550123", "ClientMetadata": {"k": "v"}}"#;
    let amz = |body| Req { content_type: Some("application/x-amz-json-1.1"), ..Req::json(body) };
    check_table(
        r#"{"preset": "cognito"}"#,
        &[
            (amz(sign_up), found(&[("+2348031234567", "json:$.UserAttributes[1].Value")])),
            (
                amz(sign_up_phone_username),
                found(&[
                    ("+14155550123", "json:$.Username"),
                    ("+14155550123", "json:$.UserAttributes[0].Value"),
                ]),
            ),
            (amz(forgot), found(&[("+2348031234567", "json:$.Username")])),
            (amz(forgot_by_name), found(&[])),
            (amz(resend), found(&[("+14155550123", "json:$.Username")])),
            (amz(r#"{"Username": 14155550123}"#), found(&[])),
            (amz(r#"{"Username": "+1", "username": "+2"}"#), Err("ambiguous_field")),
            (
                amz(r#"{"UserAttributes": [{"Name": "phone_number", "Value": "+1"}], "UserAttributes": []}"#),
                Err("ambiguous_field"),
            ),
            (Req::form("Username=%2B1"), Err("unsupported_content_type")),
        ],
    );
    // Explicit sources add to the preset; an explicit token is the only token.
    check_table(
        r#"{"preset": "cognito", "json_name_value": [{"array": "UserAttributes", "names": ["custom:mobile"]}], "token": {"header": "x-captcha"}}"#,
        &[(
            Req {
                headers: &[("x-captcha", "t")],
                ..amz(
                    r#"{"UserAttributes": [{"Name": "custom:mobile", "Value": "+1"}, {"Name": "phone_number", "Value": "+2"}]}"#,
                )
            },
            found_with_token(
                &[("+1", "json:$.UserAttributes[0].Value"), ("+2", "json:$.UserAttributes[1].Value")],
                "t",
            ),
        )],
    );
}

#[test]
fn preset_sns_publish() {
    check_table(
        r#"{"preset": "sns_publish"}"#,
        &[
            (
                Req::form("Action=Publish&PhoneNumber=%2B2348031234567&Message=Your%20code%20is%20123456&Version=2010-03-31"),
                found(&[("+2348031234567", "form:PhoneNumber")]),
            ),
            (
                Req { query: "Action=Publish&PhoneNumber=%2B14155550123&Message=code&Version=2010-03-31", ..Req::default() },
                found(&[("+14155550123", "query:PhoneNumber")]),
            ),
            (
                Req::form("Action=CreateSMSSandboxPhoneNumber&PhoneNumber=%2B14155550123&LanguageCode=en-US&Version=2010-03-31"),
                found(&[("+14155550123", "form:PhoneNumber")]),
            ),
            (
                Req { content_type: Some("application/x-amz-json-1.0"), ..Req::json(r#"{"PhoneNumber": "+14155550123", "Message": "code"}"#) },
                found(&[("+14155550123", "json:$.PhoneNumber")]),
            ),
            (Req::form("Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3AMyTopic&Message=hi"), found(&[])),
            (Req::form("Action=Publish&PhoneNumber=%2B1&PhoneNumber=%2B2"), Err("ambiguous_field")),
        ],
    );
}

#[test]
fn preset_twilio_verify() {
    check_table(
        r#"{"preset": "twilio_verify"}"#,
        &[
            (Req::form("To=%2B15017122661&Channel=sms"), found(&[("+15017122661", "form:To")])),
            (
                Req::form("Channel=whatsapp&To=%2B2348031234567&Locale=en"),
                found(&[("+2348031234567", "form:To")]),
            ),
            (Req::form("To=user%40example.com&Channel=email"), found(&[])),
            (Req::form("To=%2B1&to=%2B2&Channel=sms"), Err("ambiguous_field")),
            (Req::json(r#"{"To": "+1"}"#), Err("unsupported_content_type")),
        ],
    );
}

/// What Cognito's answer to a sign-up says: the code's way, and the `sub` it made the user,
/// folded as account names are, and only when it could be Cognito's.
#[test]
fn preset_cognito_send_answer() {
    let answer = |body: &str| Preset::Cognito.send_answer(Some(body.as_bytes()));
    let by_sms = r#"{"CodeDeliveryDetails": {"AttributeName": "phone_number", "DeliveryMedium": "SMS"},
        "UserConfirmed": false, "UserSub": " 9A1C0E2B-0000-4000-8000-000000000001 "}"#;
    assert_eq!(
        answer(by_sms),
        SendAnswer {
            sent: AnsweredSend::CodeBySms,
            user_id: Some("9a1c0e2b-0000-4000-8000-000000000001".to_owned())
        }
    );
    let long = format!(r#"{{"UserConfirmed": true, "UserSub": "{}"}}"#, "x".repeat(129));
    assert_eq!(answer(&long), SendAnswer { sent: AnsweredSend::AcceptedOtherwise, user_id: None });
    for no_id in
        [r#"{"UserSub": ""}"#, r#"{"UserSub": "  "}"#, r#"{"UserSub": 7}"#, r#"{"ChallengeName": "SMS_MFA"}"#]
    {
        assert_eq!(answer(no_id).user_id, None, "{no_id}");
    }
    assert_eq!(answer(r#"{"ChallengeName": "SMS_MFA"}"#).sent, AnsweredSend::SignInCode);
    assert_eq!(Preset::Cognito.send_answer(Some(b"not json")).sent, AnsweredSend::Nothing);
    assert_eq!(Preset::Cognito.send_answer(None).user_id, None);
    assert_eq!(Preset::Firebase.send_answer(Some(by_sms.as_bytes())).user_id, None);
}

#[test]
fn preset_supabase() {
    // GoTrue strips one `+` and sends to the digits as E.164: the preset reads them so.
    check_table(
        r#"{"preset": "supabase"}"#,
        &[
            (Req::json(r#"{"phone": "2482510123"}"#), found(&[("+2482510123", "json:$.phone")])),
            (Req::json(r#"{"phone": "+2482510123"}"#), found(&[("+2482510123", "json:$.phone")])),
            (Req::json(r#"{"Phone": "44 7400 123456"}"#), found(&[("+44 7400 123456", "json:$.Phone")])),
            (Req::json(r#"{"phone": 2482510123}"#), found(&[("+2482510123", "json:$.phone")])),
            (
                Req::json(r#"{"phone": "1", "gotrue_meta_security": {"captcha_token": "t"}}"#),
                found_with_token(&[("+1", "json:$.phone")], "t"),
            ),
            (Req::json(r#"{"phone": "1", "PHONE": "2"}"#), Err("ambiguous_field")),
            (Req::json(r#"{"email": "a@example.com"}"#), found(&[])),
        ],
    );
    // A source listed beside the preset cannot bring back a reading in the default region.
    check_table(
        r#"{"preset": "supabase", "json_keys": ["phone"]}"#,
        &[(Req::json(r#"{"phone": "2482510123"}"#), found(&[("+2482510123", "json:$.phone")]))],
    );
    // Without the preset the digits are read as they are (and, under a default region, as a
    // national number there).
    check_table(
        r#"{"json_keys": ["phone"]}"#,
        &[(Req::json(r#"{"phone": "2482510123"}"#), found(&[("2482510123", "json:$.phone")]))],
    );
}

#[test]
fn preset_supabase_account_is_the_bearer_tokens_sub() {
    let ex = extractor(r#"{"preset": "supabase"}"#);
    // {"sub": "User-1"} and {"role": "anon"}, unsigned: GoTrue verifies them, the guard reads.
    let user = "Bearer e30.eyJzdWIiOiJVc2VyLTEifQ.c2ln";
    let anon = "Bearer e30.eyJyb2xlIjoiYW5vbiJ9.c2ln";
    let account = |headers: &[(&str, &str)]| {
        let parts =
            RequestParts { content_type: None, content_encoding: None, query: "", headers, body: b"" };
        ex.extract(&parts).map(|x| x.account).map_err(|e| e.code())
    };
    assert_eq!(account(&[("authorization", user)]), Ok(Some("user-1".to_owned())));
    assert_eq!(account(&[("Authorization", anon)]), Ok(None));
    assert_eq!(account(&[("authorization", "Basic dTpw")]), Ok(None));
    assert_eq!(account(&[("authorization", user), ("authorization", anon)]), Ok(Some("user-1".to_owned())));
    assert_eq!(
        account(&[("authorization", user), ("authorization", "bearer e30.eyJzdWIiOiJVc2VyLTIifQ.c2ln")]),
        Err("ambiguous_field")
    );
    // Other presets read no header.
    let parts = RequestParts {
        content_type: None,
        content_encoding: None,
        query: "",
        headers: &[("authorization", user)],
        body: b"",
    };
    assert_eq!(extractor(r#"{"preset": "firebase"}"#).extract(&parts).map(|x| x.account).ok(), Some(None));
}

#[test]
fn preset_supabase_send_answer() {
    let answer = |body: &str| Preset::Supabase.send_answer(Some(body.as_bytes()));
    // GoTrue's answer to a phone change: the user, its phone without `+`, the pending one.
    let change = r#"{"id": "6f0b5c1e", "phone": "447400123456", "new_phone": "14155550150"}"#;
    assert_eq!(
        answer(change),
        SendAnswer { sent: AnsweredSend::CodeBySms, user_id: Some("+447400123456".to_owned()) }
    );
    // A user with no phone yet: nothing names it but its `sub`; a change to nothing sent nothing.
    assert_eq!(answer(r#"{"phone": "", "new_phone": "14155550150"}"#).user_id, None);
    assert_eq!(answer(r#"{"phone": "447400123456"}"#).sent, AnsweredSend::Nothing);
    for odd in [r#"{"phone": "+447400123456"}"#, r#"{"phone": "44 74"}"#, r#"{"phone": 447400123456}"#] {
        assert_eq!(answer(odd).user_id, None, "{odd}");
    }
    assert_eq!(answer(&format!(r#"{{"phone": "{}"}}"#, "1".repeat(128))).user_id, None);
}

#[test]
fn preset_auth0() {
    let start =
        r#"{"client_id": "c1", "connection": "sms", "send": "code", "phone_number": "+447400123456"}"#;
    check_table(
        r#"{"preset": "auth0"}"#,
        &[
            (Req::json(start), found(&[("+447400123456", "json:$.phone_number")])),
            // Auth0 hands the digits to its SMS provider as E.164: no default region.
            (Req::json(r#"{"phone_number": "2482510123"}"#), found(&[("+2482510123", "json:$.phone_number")])),
            (
                Req::form("client_id=c1&connection=sms&phone_number=%2B447400123456"),
                found(&[("+447400123456", "form:phone_number")]),
            ),
            (
                Req { query: "phone_number=2482510123", ..Req::json("{}") },
                found(&[("+2482510123", "query:phone_number")]),
            ),
            (Req::json(r#"{"phone_number": "+1", "Phone_Number": "+2"}"#), Err("ambiguous_field")),
            (Req::form("phone_number=%2B1&phone_number=%2B2"), Err("ambiguous_field")),
            // The code's exchange names the number as `username`; an e-mail there is no number.
            (
                Req::form("grant_type=http%3A%2F%2Fauth0.com%2Foauth%2Fgrant-type%2Fpasswordless%2Fotp&username=%2B447400123456&otp=123456&realm=sms"),
                found(&[("+447400123456", "form:username")]),
            ),
            (Req::json(r#"{"username": "a@example.com", "otp": "1", "realm": "email"}"#), found(&[])),
            (Req::json(r#"{"email": "a@example.com", "connection": "email"}"#), found(&[])),
            (Req::json(r#"{"authenticator_types": ["otp"]}"#), found(&[])),
        ],
    );
}

#[test]
fn preset_auth0_accounts() {
    let ex = extractor(r#"{"preset": "auth0"}"#);
    let account = |headers: &[(&str, &str)], body: &str| {
        let parts = RequestParts {
            content_type: Some("application/json"),
            content_encoding: None,
            query: "",
            headers,
            body: body.as_bytes(),
        };
        ex.extract(&parts).map(|x| x.account).map_err(|e| e.code())
    };
    let challenge = r#"{"client_id": "c1", "mfa_token": "opaque", "challenge_type": "oob", "authenticator_id": "sms|dev_NU1Ofuw3Cw0XCSvS"}"#;
    assert_eq!(account(&[], challenge), Ok(Some("sms|dev_nu1ofuw3cw0xcsvs".to_owned())));
    // An enrolment with an access token names its user; with an `mfa_token`, no one.
    let access = "Bearer e30.eyJzdWIiOiJhdXRoMHw2NWYxIn0.c2ln";
    let associate =
        r#"{"authenticator_types": ["oob"], "oob_channels": ["sms"], "phone_number": "+447400123456"}"#;
    assert_eq!(account(&[("authorization", access)], associate), Ok(Some("auth0|65f1".to_owned())));
    assert_eq!(account(&[("authorization", "Bearer Fe26.2**opaque")], associate), Ok(None));
    // An e-mail where the exchange names the user is its account.
    assert_eq!(
        account(&[], r#"{"username": "A@example.com", "otp": "1"}"#),
        Ok(Some("a@example.com".to_owned()))
    );
}

#[test]
fn preset_auth0_send_answer() {
    let answer = |body: &str| Preset::Auth0.send_answer(Some(body.as_bytes()));
    // An `otp/challenge` taken: the session its code is exchanged under.
    assert_eq!(
        answer(r#"{"auth_session": "Sess-A1"}"#),
        SendAnswer { sent: AnsweredSend::CodeBySms, user_id: Some("sess-a1".to_owned()) }
    );
    assert_eq!(answer(r#"{"auth_session": ""}"#), SendAnswer { sent: AnsweredSend::Nothing, user_id: None });
    assert_eq!(answer("{}").sent, AnsweredSend::Nothing);
    assert_eq!(answer(&format!(r#"{{"auth_session": "{}"}}"#, "s".repeat(4097))).user_id, None);
    // The exchange names the session as its account, from a form as from JSON.
    let form = "grant_type=http%3A%2F%2Fauth0.com%2Foauth%2Fgrant-type%2Fpasswordless%2Fotp&auth_session=Sess-A1&otp=1";
    let ex = extractor(r#"{"preset": "auth0"}"#);
    for (content_type, body) in
        [("application/x-www-form-urlencoded", form), ("application/json", r#"{"auth_session": "Sess-A1"}"#)]
    {
        let parts = RequestParts {
            content_type: Some(content_type),
            content_encoding: None,
            query: "",
            headers: &[],
            body: body.as_bytes(),
        };
        let got = ex.extract(&parts).map_err(|e| e.code());
        assert_eq!(got.as_ref().map(|x| x.account.clone()), Ok(Some("sess-a1".to_owned())), "{body}");
        assert_eq!(got.map(|x| x.numbers.len()), Ok(0), "{body}");
    }
}

#[test]
fn preset_supabase_factor_enrolment_binds_under_the_factor() {
    let answer = |body: &str| Preset::Supabase.send_answer(Some(body.as_bytes()));
    // GoTrue's answer to a phone factor's enrolment names the factor its challenges will name.
    assert_eq!(
        answer(r#"{"id": "0C1D-9", "type": "phone", "friendly_name": "", "phone": "+14155550160"}"#),
        SendAnswer { sent: AnsweredSend::Bound, user_id: Some("0c1d-9".to_owned()) }
    );
    // A TOTP factor's binds nothing.
    assert_eq!(answer(r#"{"id": "0c1d", "type": "totp", "totp": {}}"#).sent, AnsweredSend::Nothing);
}

#[test]
fn preset_supabase_factor_calls_name_their_factor_in_every_reading() {
    use crate::extract::PathBinding;
    let request = |path| post(path, &[], b"");
    let at = |path: &'static str| Preset::Supabase.path_binding(&request(path));
    assert_eq!(at("/auth/v1/factors/0C1D/challenge"), PathBinding::Named("0c1d".to_owned()));
    assert_eq!(at("/factors/0c1d/verify?x=1"), PathBinding::Named("0c1d".to_owned()));
    assert_eq!(at("//auth/v1/factors/0c1d/./challenge/"), PathBinding::Named("0c1d".to_owned()));
    assert_eq!(at("/auth/v1/factors/0c1d/unenroll"), PathBinding::None);
    assert_eq!(at("/auth/v1/factors"), PathBinding::None);
    assert!(matches!(at("/auth/v1/factors/a%2F..%2Fb/challenge"), PathBinding::Ambiguous(_)));
    // Other presets read no path; Vonage Verify names the request its next steps and check go to.
    assert_eq!(Preset::Auth0.path_binding(&request("/auth/v1/factors/0c1d/challenge")), PathBinding::None);
    let vonage = |path: &'static str| Preset::VonageVerify.path_binding(&request(path));
    assert_eq!(vonage("/v2/verify/C1-A/next_workflow"), PathBinding::Named("c1-a".to_owned()));
    assert_eq!(vonage("/V2/Verify/c1-a/"), PathBinding::Named("c1-a".to_owned()));
    assert_eq!(vonage("/v2/verify/templates"), PathBinding::None);
    assert_eq!(vonage("/v2/verify"), PathBinding::None);
    assert!(matches!(vonage("/v2/verify/a%2F..%2Fb/next_workflow"), PathBinding::Ambiguous(_)));
}

#[test]
fn preset_vonage_verify() {
    let sms_then_voice = r#"{"brand": "ACME", "workflow": [{"channel": "sms", "to": "447700900000"}, {"channel": "voice", "to": "+2348031234567"}]}"#;
    check_table(
        r#"{"preset": "vonage_verify"}"#,
        &[
            // Every step's `to`, E.164 digits with or without `+`: a second step is a second number.
            (
                Req::json(sms_then_voice),
                found(&[
                    ("+447700900000", "json:$.workflow[0].to"),
                    ("+2348031234567", "json:$.workflow[1].to"),
                ]),
            ),
            (Req::json(r#"{"workflow": [{"channel": "email", "to": "ada@example.com"}]}"#), found(&[])),
            (
                Req::json(r#"{"workflow": [{"channel": "sms", "to": "1", "TO": "2"}]}"#),
                Err("ambiguous_field"),
            ),
        ],
    );
    let answer = |body: &str| Preset::VonageVerify.send_answer(Some(body.as_bytes()));
    // A request taken: the id its next steps and its check name.
    assert_eq!(
        answer(r#"{"request_id": "C11236F9-1C8E-4C8A-A0BF-7C2FEB4FD1A5"}"#),
        SendAnswer {
            sent: AnsweredSend::CodeBySms,
            user_id: Some("c11236f9-1c8e-4c8a-a0bf-7c2feb4fd1a5".to_owned()),
        }
    );
    assert_eq!(answer(r#"{"title": "Conflict"}"#), SendAnswer { sent: AnsweredSend::Nothing, user_id: None });
}

#[test]
fn preset_firebase() {
    let send =
        r#"{"phoneNumber": "+16505550101", "recaptchaToken": "03AGdBq24PBCbwiDRaS_MJ7Z", "tenantId": "t-1"}"#;
    let enroll = r#"{"idToken": "eyJhbGciOi", "phoneEnrollmentInfo": {"phoneNumber": "+2348031234567", "recaptchaToken": "03AF"}}"#;
    check_table(
        r#"{"preset": "firebase"}"#,
        &[
            (
                Req::json(send),
                found_with_token(&[("+16505550101", "json:$.phoneNumber")], "03AGdBq24PBCbwiDRaS_MJ7Z"),
            ),
            (
                Req::json(enroll),
                found_with_token(&[("+2348031234567", "json:$.phoneEnrollmentInfo.phoneNumber")], "03AF"),
            ),
            (Req::json(r#"{"phoneNumber": "+1"}"#), found(&[("+1", "json:$.phoneNumber")])),
            (
                Req::json(
                    r#"{"phoneNumber": "+1", "phoneEnrollmentInfo": {"recaptchaToken": "b"}, "recaptchaToken": "a"}"#,
                ),
                Err("ambiguous_field"),
            ),
            (Req::json(r#"{"phoneNumber": "+1", "phonenumber": "+2"}"#), Err("ambiguous_field")),
            // The SDKs' "no Enterprise token" beside the real one, or alone: no token.
            (
                Req::json(
                    r#"{"phoneNumber": "+1", "captchaResponse": "NO_RECAPTCHA", "recaptchaToken": "v2"}"#,
                ),
                found_with_token(&[("+1", "json:$.phoneNumber")], "v2"),
            ),
            (
                Req::json(
                    r#"{"phoneNumber": "+1", "recaptchaToken": "v2", "captchaResponse": "NO_RECAPTCHA"}"#,
                ),
                found_with_token(&[("+1", "json:$.phoneNumber")], "v2"),
            ),
            (
                Req::json(r#"{"phoneNumber": "+1", "captchaResponse": "NO_RECAPTCHA"}"#),
                found(&[("+1", "json:$.phoneNumber")]),
            ),
            // Only the exact placeholder: any other value is a token.
            (
                Req::json(
                    r#"{"phoneNumber": "+1", "captchaResponse": "no_recaptcha", "recaptchaToken": "v2"}"#,
                ),
                Err("ambiguous_field"),
            ),
        ],
    );
    // Google parses JSON as protobuf does: each field by its proto name too, at every level.
    check_table(
        r#"{"preset": "firebase"}"#,
        &[
            (
                Req::json(r#"{"phone_number": "+1", "recaptcha_token": "t"}"#),
                found_with_token(&[("+1", "json:$.phone_number")], "t"),
            ),
            (
                Req::json(r#"{"phone_enrollment_info": {"phoneNumber": "+2", "recaptcha_token": "t"}}"#),
                found_with_token(&[("+2", "json:$.phone_enrollment_info.phoneNumber")], "t"),
            ),
            (Req::json(r#"{"phoneNumber": "+1", "phone_number": "+2"}"#), Err("ambiguous_field")),
            (
                Req::json(r#"{"phoneNumber": "+1", "recaptchaToken": "a", "recaptcha_token": "b"}"#),
                Err("ambiguous_field"),
            ),
        ],
    );
    // Other APIs match keys by case alone: an underscore makes another key.
    check_table(
        r#"{"json_paths": ["phoneNumber"]}"#,
        &[(
            Req::json(r#"{"phoneNumber": "+1", "phone_number": "+2"}"#),
            found(&[("+1", "json:$.phoneNumber")]),
        )],
    );
    // An explicit token replaces the preset's (and reads every value as it is).
    check_table(
        r#"{"preset": "firebase", "token": {"header": "cf-turnstile-response"}}"#,
        &[(
            Req { headers: &[("cf-turnstile-response", "h")], ..Req::json(send) },
            found_with_token(&[("+16505550101", "json:$.phoneNumber")], "h"),
        )],
    );
}

#[test]
fn preset_clerk_numbers_and_accounts() {
    check_table(
        r#"{"preset": "clerk"}"#,
        &[
            // A sign-in's phone identifier; a sign-up's number, with or without its `+`.
            (Req::form("identifier=%2B447700900000"), found(&[("+447700900000", "form:identifier")])),
            (
                Req::form("phone_number=2482510123&strategy=phone_code"),
                found(&[("+2482510123", "form:phone_number")]),
            ),
            // An e-mail address or a user name is the account, never a number.
            (Req::form("identifier=ada%40example.com&strategy=password"), found(&[])),
            (Req::form("identifier=ada"), found(&[])),
            // A preparation names the user's phone by its id: an account, never a number.
            (Req::form("strategy=phone_code&phone_number_id=idn_2abc"), found(&[])),
            // A number in a JSON body or the query is read all the same.
            (
                Req::json(r#"{"phone_number": "+14155550123"}"#),
                found(&[("+14155550123", "json:$.phone_number")]),
            ),
            (
                Req { query: "phone_number=%2B14155550123", ..Req::form("strategy=phone_code") },
                found(&[("+14155550123", "query:phone_number")]),
            ),
            (Req::form("phone_number=%2B1&PHONE_NUMBER=%2B2"), Err("ambiguous_field")),
        ],
    );
}

#[test]
fn preset_clerk_calls_name_their_ids_in_every_reading() {
    use crate::extract::PathBinding;
    let at = |path: &'static str| Preset::Clerk.path_binding(&post(path, &[], b""));
    let named = |id: &str| PathBinding::Named(id.to_owned());
    assert_eq!(at("/__clerk/v1/client/sign_ups/SUA_1/prepare_verification?_method=POST"), named("sua_1"));
    assert_eq!(at("/v1/client/sign_ins/sia_1/prepare_first_factor"), named("sia_1"));
    assert_eq!(at("/auth/proxy/v1/client/sign_ins/sia_1/prepare_second_factor/"), named("sia_1"));
    assert_eq!(at("/v1/client/sign_ups/sua_2"), named("sua_2"));
    assert_eq!(at("/v1/me/phone_numbers/idn_1/attempt_verification"), named("idn_1"));
    assert_eq!(at("/v1/client/sessions/sess_1/verify/prepare_first_factor"), named("sess_1"));
    // Creations name no id; paths not under `v1/client` or `v1/me` are none of Clerk's calls.
    assert_eq!(at("/__clerk/v1/client/sign_ups"), PathBinding::None);
    assert_eq!(at("/v1/me/phone_numbers"), PathBinding::None);
    assert_eq!(at("/v2/client/sign_ups/sua_1/prepare_verification"), PathBinding::None);
    assert_eq!(at("/v1/client/sign_ups/sua_1/reset"), PathBinding::None);
    // Readings naming two sign-ups (an encoded slash origin may decode) are ambiguous.
    assert!(matches!(
        at("/v1/client/sign_ups/sua_1%2F..%2Fsua_2/prepare_verification"),
        PathBinding::Ambiguous(_)
    ));
    let answer = |body: &str| Preset::Clerk.send_answer(Some(body.as_bytes()));
    assert_eq!(
        answer(
            r#"{"response": {"object": "sign_up_attempt", "id": "sua_2Nx"}, "client": {"id": "client_1"}}"#
        ),
        SendAnswer { sent: AnsweredSend::Bound, user_id: Some("sua_2nx".to_owned()) }
    );
    assert_eq!(
        answer(r#"{"errors": [{"code": "form_identifier_not_found"}]}"#),
        SendAnswer { sent: AnsweredSend::Nothing, user_id: None }
    );
}

#[test]
fn preset_clerk_reads_every_strategy_before_calling_a_call_quiet() {
    let quiet = |path: &str, query: &str, content_type: &'static str, body: &'static str| {
        let full = if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") };
        Preset::Clerk.sends_nothing(&post(&full, &[("content-type", content_type)], body.as_bytes()), false)
    };
    let form = "application/x-www-form-urlencoded";
    let prepare = "/v1/client/sign_ins/sia_1/prepare_first_factor";
    assert!(quiet(prepare, "", form, "strategy=email_code&email_address_id=idn_1"));
    assert!(quiet(prepare, "", form, "strategy=oauth_google"));
    assert!(!quiet(prepare, "", form, "strategy=phone_code"));
    assert!(!quiet(prepare, "", form, "strategy=reset_password_phone_code"));
    // One reading naming an SMS strategy, an unknown one, or none at all: judged.
    assert!(!quiet(prepare, "strategy=phone_code", form, "strategy=email_code"));
    assert!(!quiet(prepare, "", form, "strategy=email_code&strategy=phone%5Fcode"));
    assert!(!quiet(prepare, "", form, "strategy=sms"));
    assert!(!quiet(prepare, "", form, ""));
    assert!(!quiet(prepare, "", form, "strategy=email_code&strategy%5B%5D=phone_code"));
    // A body that is not a form is not read: judged.
    assert!(!quiet(prepare, "", "application/json", r#"{"strategy": "email_code"}"#));
    // A creation without an SMS strategy and without a number sends nothing; with an SMS
    // strategy it sends to the user's number (a sign-in by e-mail address).
    assert!(quiet("/v1/client/sign_ins", "", form, "identifier=ada%40example.com"));
    // A sign-up by OAuth names its provider twice; a field holding the word is another field.
    assert!(quiet(
        "/v1/client/sign_ups",
        "",
        form,
        "strategy=oauth_google&external_account_strategy=oauth_google"
    ));
    assert!(!quiet(prepare, "", form, "strategy=email_code&%20strategy=phone_code"));
    assert!(!quiet(prepare, "", form, "strategy=email_code&strategy.=phone_code"));
    assert!(!quiet("/v1/client/sign_ins", "", form, "identifier=ada%40example.com&strategy=phone_code"));
    // A user's number's verification has one strategy: always a send.
    assert!(!quiet("/v1/me/phone_numbers/idn_1/prepare_verification", "", form, "strategy=email_code"));
}
