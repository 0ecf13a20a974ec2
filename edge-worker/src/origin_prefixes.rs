//! `PUMPGUARD_ORIGIN_PREFIXES`: path prefixes forwarded to origins of their own, the rest of the
//! path appended. What lets one Worker stand in front of an API the client addresses by host
//! name in the path: the Firebase JS SDK, given the Worker's URL by `connectAuthEmulator`, asks
//! for `/identitytoolkit.googleapis.com/v1/accounts:sendVerificationCode`, which goes to
//! `https://identitytoolkit.googleapis.com/v1/accounts:sendVerificationCode`.
//!
//! Only the configured prefixes go anywhere else than `PUMPGUARD_ORIGIN_URL`, so the Worker
//! is never a proxy to a host the request names. Prefixes are compared ignoring ASCII case (the
//! policy's routes match paths so, and a host name is case-insensitive); the longest wins.

/// Most prefixes: a handful of APIs, never a routing table.
pub const MAX_PREFIXES: usize = 16;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginPrefixes {
    /// (prefix, base URL without its trailing `/`), longest prefix first.
    entries: Vec<(String, String)>,
}

impl OriginPrefixes {
    /// Reads a JSON object of prefix → base URL: every prefix starts and ends with `/`, every
    /// URL is http(s). The error says which entry is wrong and why.
    pub fn parse(value: &str) -> Result<OriginPrefixes, String> {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(value).map_err(|e| format!("not a JSON object of prefix to URL ({e})"))?;
        if map.len() > MAX_PREFIXES {
            return Err(format!("{} prefixes; at most {MAX_PREFIXES}", map.len()));
        }
        let mut entries = Vec::with_capacity(map.len());
        for (prefix, url) in map {
            if prefix.len() < 2 || !prefix.starts_with('/') || !prefix.ends_with('/') {
                return Err(format!(
                    "prefix {prefix:?} must start and end with \"/\" (\"/identitytoolkit.googleapis.com/\")"
                ));
            }
            let Some(url) = url.as_str().filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            else {
                return Err(format!("{prefix:?}: {url} is not an http(s) URL"));
            };
            entries.push((prefix.to_ascii_lowercase(), url.trim_end_matches('/').to_owned()));
        }
        entries.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(OriginPrefixes { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The URL a request path (with its query) goes to, when a prefix takes it.
    pub fn target(&self, path_and_query: &str) -> Option<String> {
        let path = path_and_query.as_bytes();
        let (prefix, base) = self.entries.iter().find(|(prefix, _)| {
            path.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
        })?;
        // The prefix is ASCII and matched byte for byte, so the rest starts on a char boundary.
        let rest = path_and_query.get(prefix.len()..)?;
        Some(format!("{base}/{rest}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIREBASE: &str = r#"{"/identitytoolkit.googleapis.com/": "https://identitytoolkit.googleapis.com/",
        "/securetoken.googleapis.com/": "https://securetoken.googleapis.com"}"#;

    #[test]
    fn prefixes_take_their_paths_and_nothing_else() {
        let Ok(p) = OriginPrefixes::parse(FIREBASE) else { panic!("parses") };
        for (path, url) in [
            (
                "/identitytoolkit.googleapis.com/v1/accounts:sendVerificationCode?key=k",
                "https://identitytoolkit.googleapis.com/v1/accounts:sendVerificationCode?key=k",
            ),
            (
                "/IdentityToolkit.googleapis.com/v1/accounts:lookup",
                "https://identitytoolkit.googleapis.com/v1/accounts:lookup",
            ),
            (
                "/securetoken.googleapis.com/v1/token?key=k",
                "https://securetoken.googleapis.com/v1/token?key=k",
            ),
            // Whatever follows stays on the configured host.
            (
                "/identitytoolkit.googleapis.com//evil.example/x",
                "https://identitytoolkit.googleapis.com//evil.example/x",
            ),
        ] {
            assert_eq!(p.target(path).as_deref(), Some(url), "{path}");
        }
        for other in ["/identitytoolkit.googleapis.com", "/evil.example/v1/x", "/api/otp", "/"] {
            assert_eq!(p.target(other), None, "{other}");
        }
    }

    #[test]
    fn the_longest_prefix_wins() {
        let Ok(p) = OriginPrefixes::parse(r#"{"/a/": "http://one", "/a/b/": "http://two/base/"}"#) else {
            panic!("parses")
        };
        assert_eq!(p.target("/a/b/c").as_deref(), Some("http://two/base/c"));
        assert_eq!(p.target("/a/c").as_deref(), Some("http://one/c"));
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        for (value, says) in [
            ("[]", "not a JSON object"),
            (r#"{"/a": "http://x"}"#, "must start and end"),
            (r#"{"a/": "http://x"}"#, "must start and end"),
            (r#"{"/": "http://x"}"#, "must start and end"),
            (r#"{"/a/": "ftp://x"}"#, "not an http(s) URL"),
            (r#"{"/a/": 1}"#, "not an http(s) URL"),
        ] {
            match OriginPrefixes::parse(value) {
                Err(why) => assert!(why.contains(says), "{value}: {why}"),
                Ok(p) => panic!("{value} parsed: {p:?}"),
            }
        }
        let many: Vec<String> = (0..=MAX_PREFIXES).map(|i| format!("\"/p{i}/\": \"http://x\"")).collect();
        assert!(OriginPrefixes::parse(&format!("{{{}}}", many.join(","))).is_err());
    }
}
