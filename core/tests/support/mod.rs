//! Requests the integration tests send, built one way.

use std::net::{IpAddr, Ipv4Addr};

use pumpguard_core::{HttpVersion, Request, TlsFingerprints};

/// An HTTP/1.1 POST to `path` of app.example.com from 198.51.100.`ip`.
pub fn post<'a>(path: &'a str, body: &'a str, headers: &'a [(&'a str, &'a str)], ip: u8) -> Request<'a> {
    Request {
        method: "POST",
        authority: "app.example.com",
        path,
        version: HttpVersion::Http11,
        headers,
        body: body.as_bytes(),
        body_truncated: false,
        client_ip: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, ip))),
        tls: TlsFingerprints::default(),
        edge: Default::default(),
    }
}

/// A token of the JSON Web Token shape carrying `claims` (unsigned: the guard reads claims, the
/// service checks signatures), its parts in base64url without padding.
#[allow(dead_code)] // not every test names a user by token
pub fn jwt(claims: &serde_json::Value) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b64 = |v: &serde_json::Value| {
        let bytes = v.to_string().into_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            }
        }
        out
    };
    format!("{}.{}.c2ln", b64(&serde_json::json!({"alg": "RS256"})), b64(claims))
}

/// Cognito's answers to a sign-up whose code went by SMS, and by e-mail.
#[allow(dead_code)] // not every test signs up through Cognito
pub const SIGN_UP_BY_SMS: &str = r#"{"CodeDeliveryDetails": {"AttributeName": "phone_number", "DeliveryMedium": "SMS",
    "Destination": "+*******0101"}, "UserConfirmed": false, "UserSub": "u"}"#;
#[allow(dead_code)]
pub const SIGN_UP_BY_EMAIL: &str = r#"{"CodeDeliveryDetails": {"AttributeName": "email", "DeliveryMedium": "EMAIL",
    "Destination": "m***@e***"}, "UserConfirmed": false, "UserSub": "u"}"#;

/// A policy of Cognito's send and confirm routes with `rules`.
#[allow(dead_code)]
pub fn cognito_policy(rules: Vec<serde_json::Value>) -> pumpguard_core::Policy {
    let doc = serde_json::json!({
        "version": 1,
        "default_region": "US",
        "routes": [
            {"id": "cognito", "kind": "send", "extract": {"preset": "cognito"}},
            {"id": "cognito-confirm", "kind": "confirm", "extract": {"preset": "cognito"}},
        ],
        "rules": rules,
    });
    match pumpguard_core::Policy::from_json(&doc.to_string()) {
        Ok(policy) => policy,
        Err(e) => panic!("{e}"),
    }
}
