//! The benchmark request: a ~200-byte JSON OTP POST with realistic headers.

pub const POLICY: &str = include_str!("../fixtures/policy.json");
pub const BODY: &str = r#"{"phone":"+14155550123","channel":"sms","locale":"en-US","app":"signup","device":{"os":"ios","version":"17.5"},"client_ts":1763800000000,"nonce":"b7f3c1a9e2d4"}"#;
pub const HEADERS: [(&str, &str); 9] = [
    ("host", "app.example.com"),
    ("user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"),
    ("accept", "application/json"),
    ("accept-language", "en-US,en;q=0.9"),
    ("accept-encoding", "gzip, deflate, br"),
    ("content-type", "application/json"),
    ("content-length", "163"),
    ("origin", "https://app.example.com"),
    ("x-request-id", "4f1c2b7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f"),
];
