//! Criterion benchmarks of extraction alone: a ~200-byte JSON OTP body, a Cognito `SignUp`, a
//! urlencoded form and a multipart form.
//!
//! Run with `cargo bench -p pumpguard-core --bench extract` (the target needs
//! `harness = false`). Under the default libtest harness the file still builds, with `main`
//! unused, hence the crate-wide `dead_code` allowance.
#![allow(dead_code)]
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // benchmark setup: failing loudly is the point

mod bench {
    use std::hint::black_box;

    use criterion::{criterion_group, Criterion};
    use pumpguard_core::config::ConfigErrors;
    use pumpguard_core::extract::{ExtractSpec, Extractor, RequestParts};

    const JSON_BODY: &str = r#"{"phone":"+14155550123","country":"US","channel":"sms","locale":"en-US","client":{"app":"web","version":"3.14.1","tz":"America/Los_Angeles"},"captcha":"0.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789","terms":true}"#;
    const COGNITO_BODY: &str = r#"{"ClientId":"1example23456789","Username":"mary_major","Password":"P4ssw0rd!","UserAttributes":[{"Name":"email","Value":"mary@example.com"},{"Name":"phone_number","Value":"+14155550123"}]}"#;
    const FORM_BODY: &str = "phone=%2B14155550123&country=US&channel=sms&locale=en-US&cf-turnstile-response=0.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    const MULTIPART_BODY: &str = "--XyZ\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n+14155550123\r\n--XyZ\r\nContent-Disposition: form-data; name=\"country\"\r\n\r\nUS\r\n--XyZ--\r\n";

    fn compile(spec: &str) -> Extractor {
        let spec: ExtractSpec = serde_json::from_str(spec).expect("bench spec parses");
        let mut errs = ConfigErrors::default();
        spec.compile("extract", &mut errs).unwrap_or_else(|| panic!("bench spec does not compile: {errs}"))
    }

    fn bench_one(c: &mut Criterion, name: &str, spec: &str, content_type: &str, body: &str) {
        let extractor = compile(spec);
        let headers = [("content-type", content_type), ("cf-turnstile-response", "0.token")];
        let parts = RequestParts {
            content_type: Some(content_type),
            content_encoding: None,
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        };
        match extractor.extract(&parts) {
            Ok(found) if found.numbers.len() == 1 => {}
            other => panic!("{name}: unexpected extraction {other:?}"),
        }
        c.bench_function(name, |b| b.iter(|| extractor.extract(black_box(&parts))));
    }

    fn extraction(c: &mut Criterion) {
        bench_one(
            c,
            &format!("json_otp_{}b", JSON_BODY.len()),
            r#"{"json_keys": ["phone"], "token": {"json_path": "captcha"}}"#,
            "application/json",
            JSON_BODY,
        );
        bench_one(
            c,
            &format!("json_path_{}b", JSON_BODY.len()),
            r#"{"json_paths": ["phone"], "token": {"header": "cf-turnstile-response"}}"#,
            "application/json; charset=utf-8",
            JSON_BODY,
        );
        bench_one(
            c,
            &format!("cognito_signup_{}b", COGNITO_BODY.len()),
            r#"{"preset": "cognito"}"#,
            "application/x-amz-json-1.1",
            COGNITO_BODY,
        );
        bench_one(
            c,
            &format!("form_{}b", FORM_BODY.len()),
            r#"{"form_fields": ["phone"], "token": {"form_field": "cf-turnstile-response"}}"#,
            "application/x-www-form-urlencoded",
            FORM_BODY,
        );
        bench_one(
            c,
            &format!("multipart_{}b", MULTIPART_BODY.len()),
            r#"{"form_fields": ["phone"]}"#,
            "multipart/form-data; boundary=XyZ",
            MULTIPART_BODY,
        );
    }

    criterion_group!(benches, extraction);
}

criterion::criterion_main!(bench::benches);
