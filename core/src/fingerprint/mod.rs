//! TEMPORARY stub, replaced by the real fingerprint module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FingerprintKind {
    Ja3,
    Ja4,
    Ja4h,
    HeaderMd5,
}
impl FingerprintKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FingerprintKind::Ja3 => "ja3",
            FingerprintKind::Ja4 => "ja4",
            FingerprintKind::Ja4h => "ja4h",
            FingerprintKind::HeaderMd5 => "header_md5",
        }
    }
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpVersion {
    Http10,
    Http11,
    Http2,
    Http3,
}
impl HttpVersion {
    pub fn from_protocol(s: &str) -> Option<HttpVersion> {
        match s {
            "HTTP/1.0" => Some(HttpVersion::Http10),
            "HTTP/1.1" => Some(HttpVersion::Http11),
            "HTTP/2" | "HTTP/2.0" | "h2" => Some(HttpVersion::Http2),
            "HTTP/3" | "h3" => Some(HttpVersion::Http3),
            _ => None,
        }
    }
}
pub struct Ja4h(String);
impl Ja4h {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
pub struct HeaderHash(String);
impl HeaderHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
pub struct Ja3(String);
impl Ja3 {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
pub struct Ja4(String);
impl Ja4 {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
pub fn ja4h(method: &str, _v: HttpVersion, headers: &[(&str, &str)]) -> Ja4h {
    Ja4h(format!("{}{}", method, headers.len()))
}
pub fn header_md5(method: &str, _v: HttpVersion, headers: &[(&str, &str)]) -> HeaderHash {
    HeaderHash(format!("{}{}", method, headers.len()))
}
pub fn parse_ja3(s: &str) -> Option<Ja3> {
    (s.len() == 32).then(|| Ja3(s.to_ascii_lowercase()))
}
pub fn parse_ja4(s: &str) -> Option<Ja4> {
    (s.len() == 36).then(|| Ja4(s.to_string()))
}
