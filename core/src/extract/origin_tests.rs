//! Field names a framework reads as a configured field though they are spelled otherwise: each
//! beside a decoy under the plain name is a repeat of the field (`ambiguous_field`), and alone
//! it is the field; never the decoy judged while origin reads the other number.

use super::tests::{extractor, run, Req};

/// The numbers read, or the error code.
fn read(ex: &super::Extractor, content_type: &str, body: &[u8]) -> Result<Vec<String>, &'static str> {
    let req = match content_type {
        FORM => Req::form(std::str::from_utf8(body).unwrap_or_default()),
        _ => Req::multipart(content_type, std::str::from_utf8(body).unwrap_or_default()),
    };
    run(ex, req).map(|(numbers, _)| numbers.into_iter().map(|(raw, _)| raw).collect())
}

const FORM: &str = "application/x-www-form-urlencoded";
const MULTIPART: &str = "multipart/form-data; boundary=XX";
const DECOY: &str = "phone=%2B14155550123";

fn part(disposition: &str, value: &str) -> String {
    format!("--XX\r\nContent-Disposition: form-data; {disposition}\r\n\r\n{value}\r\n")
}

#[test]
fn names_frameworks_read_as_the_field_repeat_it() {
    let phone = extractor(r#"{"form_fields": ["phone"]}"#);
    // PHP: leading spaces (a `+` in a form), a NUL; Rack: brackets around the name; Spring's
    // `!` default; Express's `qs`: `phone[]x` is the array `phone`.
    for mangled in ["+phone", "phone%00", "%5Bphone%5D", "%5Dphone", "phone%5D", "!phone", "phone[]x"] {
        let body = format!("{DECOY}&{mangled}=%2B447400123456");
        assert_eq!(read(&phone, FORM, body.as_bytes()), Err("ambiguous_field"), "{mangled}");
        let alone = format!("{mangled}=%2B447400123456");
        assert_eq!(
            read(&phone, FORM, alone.as_bytes()),
            Ok(vec!["+447400123456".to_owned()]),
            "{mangled} alone"
        );
    }
    // PHP reads `.`, a space and an unclosed `[` as `_`.
    let underscored = extractor(r#"{"form_fields": ["phone_number"]}"#);
    for mangled in ["phone.number", "phone+number", "phone%5Bnumber"] {
        let body = format!("phone_number=%2B14155550123&{mangled}=%2B447400123456");
        assert_eq!(read(&underscored, FORM, body.as_bytes()), Err("ambiguous_field"), "{mangled}");
    }
    // Names that are other fields to every framework stay other fields.
    for other in ["phones", "my_phone", "phone_2", "telephone"] {
        let body = format!("{DECOY}&{other}=%2B447400123456");
        assert_eq!(read(&phone, FORM, body.as_bytes()), Ok(vec!["+14155550123".to_owned()]), "{other}");
    }
}

#[test]
fn multipart_names_are_read_as_frameworks_read_them() {
    let phone = extractor(r#"{"form_fields": ["phone"]}"#);
    // Django trims a part's name; PHP drops its leading spaces.
    for name in [" phone", " phone ", "phone "] {
        let body = format!(
            "{}{}--XX--\r\n",
            part("name=\"phone\"", "+14155550123"),
            part(&format!("name=\"{name}\""), "+447400123456")
        );
        assert_eq!(read(&phone, MULTIPART, body.as_bytes()), Err("ambiguous_field"), "{name:?}");
    }
    // RFC 2231's `name*`, which Werkzeug, Django and Go let stand for `name`.
    let body = format!(
        "{}{}--XX--\r\n",
        part("name=\"note\"; name*=UTF-8''phone", "+447400123456"),
        part("name=\"phone\"", "+14155550123")
    );
    assert_eq!(read(&phone, MULTIPART, body.as_bytes()), Err("ambiguous_field"));
    // A part after the close delimiter, which PHP and Django read on to.
    let body = format!(
        "{}--XX--\r\n{}--XX--\r\n",
        part("name=\"phone\"", "+14155550123"),
        part("name=\"phone\"", "+447400123456")
    );
    assert_eq!(read(&phone, MULTIPART, body.as_bytes()), Err("ambiguous_field"));
    // An epilogue of text is no part.
    let body = format!("{}--XX--\r\nthe end\r\n", part("name=\"phone\"", "+14155550123"));
    assert_eq!(read(&phone, MULTIPART, body.as_bytes()), Ok(vec!["+14155550123".to_owned()]));
}
