//! TEMPORARY stub, replaced by the streaming extractor.
#![allow(clippy::unwrap_used)]
use crate::config::ConfigErrors;

#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractSpec {
    #[serde(default)]
    pub preset: Option<Preset>,
    #[serde(default)]
    pub json_paths: Vec<String>,
    #[serde(default)]
    pub json_keys: Vec<String>,
    #[serde(default)]
    pub form_fields: Vec<String>,
    #[serde(default)]
    pub query_params: Vec<String>,
    #[serde(default)]
    pub token: Option<TokenSource>,
}
#[derive(Clone, Copy, Debug, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    Cognito,
    SnsPublish,
    TwilioVerify,
    Firebase,
}
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TokenSource {
    Header(String),
    FormField(String),
    JsonPath(String),
}

#[derive(Clone, Debug)]
pub struct Extractor {
    spec: ExtractSpec,
}
impl ExtractSpec {
    pub fn compile(&self, _path: &str, _errs: &mut ConfigErrors) -> Option<Extractor> {
        Some(Extractor { spec: self.clone() })
    }
}
pub struct RequestParts<'a> {
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub raw: String,
    pub source: String,
}
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    pub numbers: Vec<Candidate>,
    pub token: Option<String>,
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtractError {
    Malformed { detail: String },
    UnsupportedEncoding { encoding: String },
    UnsupportedContentType { content_type: String },
    Ambiguous { detail: String },
}
impl ExtractError {
    pub fn code(&self) -> &'static str {
        match self {
            ExtractError::Malformed { .. } => "body_malformed",
            ExtractError::UnsupportedEncoding { .. } => "unsupported_encoding",
            ExtractError::UnsupportedContentType { .. } => "unsupported_content_type",
            ExtractError::Ambiguous { .. } => "ambiguous_field",
        }
    }
}
impl core::fmt::Display for ExtractError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{self:?}")
    }
}
impl Extractor {
    pub fn extract(&self, req: &RequestParts<'_>) -> Result<Extracted, ExtractError> {
        let mut out = Extracted::default();
        if let Some(enc) = req.content_encoding {
            if !enc.eq_ignore_ascii_case("identity") {
                return Err(ExtractError::UnsupportedEncoding { encoding: enc.into() });
            }
        }
        let ct = req.content_type.unwrap_or("").to_ascii_lowercase();
        if req.body.is_empty() {
            return Ok(out);
        }
        if ct.starts_with("application/json") {
            let v: serde_json::Value = serde_json::from_slice(req.body)
                .map_err(|e| ExtractError::Malformed { detail: e.to_string() })?;
            fn walk(v: &serde_json::Value, keys: &[String], out: &mut Vec<Candidate>) {
                match v {
                    serde_json::Value::Object(m) => {
                        for (k, x) in m {
                            if keys.contains(k) {
                                if let Some(s) = x.as_str() {
                                    out.push(Candidate { raw: s.into(), source: k.clone() });
                                }
                            }
                            walk(x, keys, out)
                        }
                    }
                    serde_json::Value::Array(a) => {
                        for x in a {
                            walk(x, keys, out)
                        }
                    }
                    _ => {}
                }
            }
            let mut keys = self.spec.json_keys.clone();
            keys.extend(self.spec.json_paths.iter().cloned());
            walk(&v, &keys, &mut out.numbers);
            if let Some(TokenSource::JsonPath(p)) = &self.spec.token {
                out.token = v.get(p).and_then(|t| t.as_str()).map(String::from);
            }
        } else if ct.starts_with("application/x-www-form-urlencoded") {
            let s = core::str::from_utf8(req.body)
                .map_err(|e| ExtractError::Malformed { detail: e.to_string() })?;
            for pair in s.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let v = v.replace('+', " ").replace("%2B", "+");
                if self.spec.form_fields.iter().any(|f| f == k) {
                    out.numbers.push(Candidate { raw: v.clone(), source: k.into() });
                }
                if let Some(TokenSource::FormField(t)) = &self.spec.token {
                    if t == k {
                        out.token = Some(v)
                    }
                }
            }
        } else {
            return Err(ExtractError::UnsupportedContentType { content_type: ct });
        }
        if let Some(TokenSource::Header(h)) = &self.spec.token {
            out.token =
                req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(h)).map(|(_, v)| v.to_string());
        }
        Ok(out)
    }
}
