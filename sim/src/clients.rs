//! Clients as they appear on the wire: browsers and mobile apps with their header sets in their
//! own order, and the scripts and headless browsers campaigns use. Each identity is drawn once
//! per user or bot and then reused, as a real client keeps its user agent, language and cookies.
//!
//! TLS fingerprints: one JA4 per TLS stack (Chrome's, Firefox's, Apple's, OkHttp's, Python's,
//! Go's, Node's); stand-ins in the right grammar, not captures. Chrome randomises its extension
//! order per connection, so its JA3 changes from one connection to the next; the others are
//! stable per stack.

use serde::{Deserialize, Serialize};

use crate::rng::{stable_hash, Rng};

/// A kind of client, named in mixes and campaign profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Chrome on Windows or macOS.
    ChromeDesktop,
    /// Chrome on Android.
    ChromeAndroid,
    /// Safari on iPhone.
    SafariIos,
    /// Safari on macOS.
    SafariMac,
    /// Firefox on Windows.
    Firefox,
    /// The site's iOS app (URLSession).
    IosApp,
    /// The site's Android app (OkHttp).
    AndroidApp,
    /// `python-requests`.
    PythonRequests,
    /// Go's `net/http`.
    GoHttp,
    /// Node with axios.
    NodeAxios,
    /// Headless Chrome driven by Puppeteer or Playwright.
    HeadlessChrome,
    /// `python-requests` sending a desktop Chrome's `user-agent` and nothing else of a
    /// browser's: the cheapest disguise, with Python's headers and TLS stack.
    PythonAsChrome,
    /// `python-requests` sending a desktop Chrome's `user-agent` and `accept-language`, copied
    /// from a browser, but none of its client hints (`sec-ch-ua`).
    PythonAsChromeWithLanguage,
    /// Headless Chrome driven by Puppeteer or Playwright with a desktop Chrome's `user-agent`:
    /// a browser's headers and TLS, but `sec-ch-ua` still names `HeadlessChrome`.
    HeadlessAsChrome,
}

impl ClientKind {
    /// Browsers, weighted roughly like a consumer site's traffic.
    pub const BROWSERS: [(ClientKind, f64); 5] = [
        (ClientKind::ChromeDesktop, 0.34),
        (ClientKind::ChromeAndroid, 0.22),
        (ClientKind::SafariIos, 0.30),
        (ClientKind::SafariMac, 0.07),
        (ClientKind::Firefox, 0.07),
    ];

    /// Whether the client runs on a phone (and so is often behind a carrier's NAT).
    pub fn is_mobile(self) -> bool {
        matches!(
            self,
            ClientKind::ChromeAndroid | ClientKind::SafariIos | ClientKind::IosApp | ClientKind::AndroidApp
        )
    }

    /// Short label for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::ChromeDesktop => "chrome_desktop",
            ClientKind::ChromeAndroid => "chrome_android",
            ClientKind::SafariIos => "safari_ios",
            ClientKind::SafariMac => "safari_mac",
            ClientKind::Firefox => "firefox",
            ClientKind::IosApp => "ios_app",
            ClientKind::AndroidApp => "android_app",
            ClientKind::PythonRequests => "python_requests",
            ClientKind::GoHttp => "go_http",
            ClientKind::NodeAxios => "node_axios",
            ClientKind::HeadlessChrome => "headless_chrome",
            ClientKind::PythonAsChrome => "python_as_chrome",
            ClientKind::PythonAsChromeWithLanguage => "python_as_chrome_with_language",
            ClientKind::HeadlessAsChrome => "headless_as_chrome",
        }
    }

    fn ja4(self) -> &'static str {
        match self {
            ClientKind::ChromeDesktop
            | ClientKind::ChromeAndroid
            | ClientKind::HeadlessChrome
            | ClientKind::HeadlessAsChrome => "t13d1516h2_8daaf6152771_02713d6af862",
            ClientKind::SafariIos | ClientKind::SafariMac | ClientKind::IosApp => {
                "t13d2014h2_a09f3c656075_14788d8d241b"
            }
            ClientKind::Firefox => "t13d1715h2_5b57614c22b0_3d5424432f57",
            ClientKind::AndroidApp => "t13d1613h2_46e7e9700bed_eca864cca44a",
            ClientKind::PythonRequests
            | ClientKind::PythonAsChrome
            | ClientKind::PythonAsChromeWithLanguage => "t13d1812h1_85036bcba153_375ca2c5e164",
            ClientKind::GoHttp => "t13d1311h1_f57a46bbacb6_e7c285222651",
            ClientKind::NodeAxios => "t13d5911h1_a33745022dd6_1f22a2ca17c4",
        }
    }

    fn randomises_ja3(self) -> bool {
        matches!(
            self,
            ClientKind::ChromeDesktop
                | ClientKind::ChromeAndroid
                | ClientKind::HeadlessChrome
                | ClientKind::HeadlessAsChrome
        )
    }

    fn is_browser(self) -> bool {
        matches!(
            self,
            ClientKind::ChromeDesktop
                | ClientKind::ChromeAndroid
                | ClientKind::SafariIos
                | ClientKind::SafariMac
                | ClientKind::Firefox
                | ClientKind::HeadlessChrome
                | ClientKind::HeadlessAsChrome
        )
    }
}

/// One client as it stays across its requests.
#[derive(Clone, Debug)]
pub struct Identity {
    /// What it is.
    pub kind: ClientKind,
    user_agent: String,
    accept_language: Option<String>,
    cookie: Option<String>,
    sec_ch_ua: Option<String>,
    platform: Option<&'static str>,
    device_id: Option<String>,
    /// Header names in the order this client sends them (a rotating bot shuffles its own).
    order: Vec<&'static str>,
    /// TLS fingerprints the proxy would compute, when the host has them.
    ja3_stable: String,
}

/// What a client wants to say in one request.
pub struct Outgoing<'a> {
    /// Host / authority.
    pub host: &'a str,
    /// The page the form sits on (browsers send it as `referer`).
    pub page: &'a str,
    /// JSON body.
    pub body: &'a str,
    /// A CAPTCHA token and the header that carries it.
    pub token: Option<(&'a str, &'a str)>,
}

/// A language tag list as each browser family writes it for a country.
fn languages(rng: &mut Rng, country: &str, kind: ClientKind) -> String {
    let primary = match country {
        "US" => "en-US",
        "GB" => "en-GB",
        "CA" => {
            if rng.chance(0.22) {
                "fr-CA"
            } else {
                "en-CA"
            }
        }
        "DE" => "de-DE",
        "FR" => "fr-FR",
        "ES" => "es-ES",
        "IT" => "it-IT",
        "NL" => "nl-NL",
        "IN" => "en-IN",
        "BR" => "pt-BR",
        "MX" => "es-MX",
        "LV" => "lv-LV",
        "LT" => "lt-LT",
        "KZ" | "KG" | "TJ" | "UZ" | "AZ" => "ru-RU",
        "ID" => "id-ID",
        "VN" => "vi-VN",
        "PK" => "ur-PK",
        "BD" => "bn-BD",
        _ => "en-US",
    };
    let lang = primary.split('-').next().unwrap_or("en");
    match kind {
        ClientKind::Firefox => {
            if lang == "en" {
                format!("{primary},en;q=0.5")
            } else {
                format!("{primary},{lang};q=0.8,en-US;q=0.5,en;q=0.3")
            }
        }
        ClientKind::SafariIos | ClientKind::SafariMac | ClientKind::IosApp => {
            format!("{primary},{lang};q=0.9")
        }
        _ => {
            if lang == "en" {
                format!("{primary},en;q=0.9")
            } else {
                format!("{primary},{lang};q=0.9,en-US;q=0.8,en;q=0.7")
            }
        }
    }
}

const CHROME_ORDER: &[&str] = &[
    "host",
    "content-length",
    "sec-ch-ua-platform",
    "user-agent",
    "sec-ch-ua",
    "content-type",
    "sec-ch-ua-mobile",
    "accept",
    "origin",
    "sec-fetch-site",
    "sec-fetch-mode",
    "sec-fetch-dest",
    "referer",
    "accept-encoding",
    "accept-language",
    "cookie",
    "priority",
    "token",
];
const FIREFOX_ORDER: &[&str] = &[
    "host",
    "user-agent",
    "accept",
    "accept-language",
    "accept-encoding",
    "referer",
    "content-type",
    "content-length",
    "token",
    "origin",
    "sec-fetch-dest",
    "sec-fetch-mode",
    "sec-fetch-site",
    "cookie",
    "priority",
];
const SAFARI_ORDER: &[&str] = &[
    "host",
    "content-type",
    "accept",
    "sec-fetch-site",
    "origin",
    "sec-fetch-mode",
    "user-agent",
    "referer",
    "sec-fetch-dest",
    "content-length",
    "accept-language",
    "priority",
    "accept-encoding",
    "cookie",
    "token",
];
const IOS_APP_ORDER: &[&str] = &[
    "host",
    "content-type",
    "accept",
    "token",
    "x-device-id",
    "user-agent",
    "accept-language",
    "content-length",
    "accept-encoding",
];
const ANDROID_APP_ORDER: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "accept-encoding",
    "user-agent",
    "x-device-id",
    "accept-language",
    "token",
];
const PYTHON_ORDER: &[&str] = &[
    "host",
    "user-agent",
    "accept-encoding",
    "accept",
    "connection",
    "content-length",
    "content-type",
    "token",
];
/// Python's order with the copied `accept-language` added where `requests` puts extra headers.
const PYTHON_WITH_LANGUAGE_ORDER: &[&str] = &[
    "host",
    "user-agent",
    "accept-encoding",
    "accept",
    "connection",
    "accept-language",
    "content-length",
    "content-type",
    "token",
];
const GO_ORDER: &[&str] =
    &["host", "user-agent", "content-length", "content-type", "token", "accept-encoding"];
const AXIOS_ORDER: &[&str] = &[
    "host",
    "accept",
    "content-type",
    "user-agent",
    "content-length",
    "accept-encoding",
    "connection",
    "token",
];

/// Desktop Chrome's `user-agent` on Windows (what the scripts and automation here copy).
fn windows_chrome(chrome: u64) -> String {
    format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36")
}

/// Chrome's `sec-ch-ua` with `brand` first (`Google Chrome`, or `HeadlessChrome` when headless).
fn chrome_brands(brand: &str, chrome: u64) -> String {
    format!("\"{brand}\";v=\"{chrome}\", \"Chromium\";v=\"{chrome}\", \"Not_A Brand\";v=\"24\"")
}

fn analytics_cookie(rng: &mut Rng, at_s: u64) -> String {
    format!(
        "_ga=GA1.1.{}.{}",
        rng.range(100_000_000, 2_147_483_647),
        at_s.saturating_sub(rng.range(0, 90 * 86_400))
    )
}

impl Identity {
    /// A new client of `kind` for a user in `country`; `returning` users carry a session cookie.
    pub fn new(rng: &mut Rng, kind: ClientKind, country: &str, returning: bool, at_s: u64) -> Identity {
        let chrome = rng.range(139, 143);
        let (user_agent, sec_ch_ua, platform, order) = match kind {
            ClientKind::ChromeDesktop => {
                let mac = rng.chance(0.3);
                (
                    format!(
                        "Mozilla/5.0 ({}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36",
                        if mac { "Macintosh; Intel Mac OS X 10_15_7" } else { "Windows NT 10.0; Win64; x64" }
                    ),
                    Some(chrome_brands("Google Chrome", chrome)),
                    Some(if mac { "\"macOS\"" } else { "\"Windows\"" }),
                    CHROME_ORDER,
                )
            }
            ClientKind::ChromeAndroid => (
                format!("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Mobile Safari/537.36"),
                Some(chrome_brands("Google Chrome", chrome)),
                Some("\"Android\""),
                CHROME_ORDER,
            ),
            ClientKind::HeadlessChrome => (
                format!("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/{chrome}.0.0.0 Safari/537.36"),
                Some(chrome_brands("HeadlessChrome", chrome)),
                Some("\"Linux\""),
                CHROME_ORDER,
            ),
            ClientKind::HeadlessAsChrome => (
                windows_chrome(chrome),
                Some(chrome_brands("HeadlessChrome", chrome)),
                Some("\"Windows\""),
                CHROME_ORDER,
            ),
            ClientKind::SafariIos => {
                let ios = *rng.pick(&["17_6", "18_5", "18_6", "26_1"]).unwrap_or(&"18_5");
                let version = ios.replace('_', ".");
                (
                    format!("Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{version} Mobile/15E148 Safari/604.1"),
                    None,
                    None,
                    SAFARI_ORDER,
                )
            }
            ClientKind::SafariMac => (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15".to_owned(),
                None,
                None,
                SAFARI_ORDER,
            ),
            ClientKind::Firefox => {
                let v = rng.range(140, 146);
                (format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"), None, None, FIREFOX_ORDER)
            }
            ClientKind::IosApp => (
                format!("Acme/{} CFNetwork/{} Darwin/24.{}.0", rng.range(5100, 5140), rng.pick(&["1568.100.1", "1568.200.51", "3826.500.131"]).unwrap_or(&"1568.100.1"), rng.range(0, 6)),
                None,
                None,
                IOS_APP_ORDER,
            ),
            ClientKind::AndroidApp => ("okhttp/4.12.0".to_owned(), None, None, ANDROID_APP_ORDER),
            ClientKind::PythonRequests => ("python-requests/2.32.3".to_owned(), None, None, PYTHON_ORDER),
            ClientKind::PythonAsChrome => (
                windows_chrome(chrome),
                None,
                None,
                PYTHON_ORDER,
            ),
            ClientKind::PythonAsChromeWithLanguage => (
                windows_chrome(chrome),
                None,
                None,
                PYTHON_WITH_LANGUAGE_ORDER,
            ),
            ClientKind::GoHttp => ("Go-http-client/1.1".to_owned(), None, None, GO_ORDER),
            ClientKind::NodeAxios => ("axios/1.7.9".to_owned(), None, None, AXIOS_ORDER),
        };
        let accept_language = match kind {
            ClientKind::PythonRequests
            | ClientKind::PythonAsChrome
            | ClientKind::GoHttp
            | ClientKind::NodeAxios => None,
            ClientKind::AndroidApp => rng.chance(0.5).then(|| languages(rng, country, kind)),
            _ => Some(languages(rng, country, kind)),
        };
        let cookie = if kind.is_browser()
            && !matches!(kind, ClientKind::HeadlessChrome | ClientKind::HeadlessAsChrome)
        {
            let session = returning.then(|| format!("__Host-sid={}", rng.token(43)));
            let analytics = rng.chance(0.7).then(|| analytics_cookie(rng, at_s));
            match (session, analytics) {
                (Some(s), Some(a)) => Some(format!("{a}; {s}")),
                (s, a) => s.or(a),
            }
        } else {
            None
        };
        let device_id = matches!(kind, ClientKind::IosApp | ClientKind::AndroidApp)
            .then(|| format!("{}-{}", rng.hex(8), rng.hex(12)));
        let ja3_stable = format!("{:016x}{:016x}", stable_hash(kind.as_str()), stable_hash(kind.ja4()));
        Identity {
            kind,
            user_agent,
            accept_language,
            cookie,
            sec_ch_ua,
            platform,
            device_id,
            order: order.to_vec(),
            ja3_stable,
        }
    }

    /// A bot pretending to be a browser: browser headers, but the order shuffled, some
    /// headers dropped and any language.
    pub fn rotating(rng: &mut Rng, at_s: u64) -> Identity {
        let kinds: Vec<f64> = ClientKind::BROWSERS.iter().map(|(_, w)| *w).collect();
        let kind = ClientKind::BROWSERS[rng.weighted(&kinds)].0;
        let languages_from = ["US", "GB", "DE", "FR", "BR", "IN", "ES", "KZ"];
        let country = *rng.pick(&languages_from).unwrap_or(&"US");
        let mut id = Identity::new(rng, kind, country, false, at_s);
        let mut order = id.order.clone();
        rng.shuffle(&mut order[1..]);
        order.retain(|name| !(name.starts_with("sec-fetch") && rng.chance(0.4)));
        id.order = order;
        id
    }

    /// The header pairs of one request, in this client's order.
    pub fn headers(&self, out: &Outgoing<'_>) -> Vec<(String, String)> {
        let mut headers = Vec::with_capacity(self.order.len());
        let origin = format!("https://{}", out.host);
        for &name in &self.order {
            let value: Option<String> = match name {
                "host" => None, // the record's `host` field carries it
                "content-length" => Some(out.body.len().to_string()),
                "content-type" => Some("application/json".to_owned()),
                "user-agent" => Some(self.user_agent.clone()),
                "sec-ch-ua" => self.sec_ch_ua.clone(),
                "sec-ch-ua-platform" => self.platform.map(str::to_owned),
                "sec-ch-ua-mobile" => self
                    .sec_ch_ua
                    .as_ref()
                    .map(|_| if self.kind.is_mobile() { "?1" } else { "?0" }.to_owned()),
                "accept" => Some(match self.kind {
                    ClientKind::NodeAxios => "application/json, text/plain, */*".to_owned(),
                    ClientKind::PythonRequests
                    | ClientKind::PythonAsChrome
                    | ClientKind::PythonAsChromeWithLanguage => "*/*".to_owned(),
                    ClientKind::IosApp => "application/json".to_owned(),
                    _ => "*/*".to_owned(),
                }),
                "origin" => Some(origin.clone()),
                "referer" => Some(format!("{origin}{}", out.page)),
                "sec-fetch-site" => Some("same-origin".to_owned()),
                "sec-fetch-mode" => Some("cors".to_owned()),
                "sec-fetch-dest" => Some("empty".to_owned()),
                "accept-encoding" => Some(match self.kind {
                    ClientKind::PythonRequests
                    | ClientKind::PythonAsChrome
                    | ClientKind::PythonAsChromeWithLanguage => "gzip, deflate".to_owned(),
                    ClientKind::GoHttp | ClientKind::AndroidApp => "gzip".to_owned(),
                    ClientKind::Firefox => "gzip, deflate, br, zstd".to_owned(),
                    ClientKind::SafariIos | ClientKind::SafariMac | ClientKind::IosApp => {
                        "gzip, deflate, br".to_owned()
                    }
                    _ => "gzip, deflate, br, zstd".to_owned(),
                }),
                "accept-language" => self.accept_language.clone(),
                "cookie" => self.cookie.clone(),
                "priority" => {
                    Some(if self.kind == ClientKind::Firefox { "u=0" } else { "u=1, i" }.to_owned())
                }
                "connection" => Some("keep-alive".to_owned()),
                "x-device-id" => self.device_id.clone(),
                "token" => {
                    if let Some((header, token)) = out.token {
                        headers.push((header.to_owned(), token.to_owned()));
                    }
                    None
                }
                _ => None,
            };
            if let Some(value) = value {
                headers.push((name.to_owned(), value));
            }
        }
        headers
    }

    /// HTTP version the client speaks to the edge.
    pub fn version(&self) -> &'static str {
        match self.kind {
            ClientKind::PythonRequests
            | ClientKind::PythonAsChrome
            | ClientKind::GoHttp
            | ClientKind::NodeAxios => "HTTP/1.1",
            _ => "HTTP/2",
        }
    }

    /// JA3 and JA4 of one new connection.
    pub fn tls(&self, rng: &mut Rng) -> (String, String) {
        let ja3 = if self.kind.randomises_ja3() { rng.hex(32) } else { self.ja3_stable.clone() };
        (ja3, self.kind.ja4().to_owned())
    }

    /// A label for reports: the client family and its TLS stack.
    pub fn label(&self) -> &'static str {
        self.kind.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_and_headers_keep_their_order() {
        let mut rng = Rng::new(5);
        for kind in [
            ClientKind::ChromeDesktop,
            ClientKind::SafariIos,
            ClientKind::AndroidApp,
            ClientKind::PythonRequests,
            ClientKind::PythonAsChrome,
            ClientKind::PythonAsChromeWithLanguage,
            ClientKind::HeadlessAsChrome,
        ] {
            let id = Identity::new(&mut rng, kind, "DE", true, 1_700_000_000);
            let (ja3, ja4) = id.tls(&mut rng);
            assert!(pumpguard_core::fingerprint::parse_ja3(&ja3).is_some(), "{ja3}");
            assert!(pumpguard_core::fingerprint::parse_ja4(&ja4).is_some(), "{ja4}");
            let out = Outgoing {
                host: "app.example.com",
                page: "/signup",
                body: "{}",
                token: Some(("cf-turnstile-response", "pass-x")),
            };
            let headers = id.headers(&out);
            assert!(headers.iter().any(|(n, _)| n == "user-agent"));
            assert!(headers.iter().any(|(n, v)| n == "cf-turnstile-response" && v == "pass-x"));
        }
    }

    #[test]
    fn a_script_dressed_as_chrome_claims_a_browser_without_its_headers() {
        let mut rng = Rng::new(5);
        let id = Identity::new(&mut rng, ClientKind::PythonAsChrome, "DE", false, 1_700_000_000);
        let out = Outgoing { host: "app.example.com", page: "/signup", body: "{}", token: None };
        let headers = id.headers(&out);
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let facts = pumpguard_core::rules::ClientFacts::of(&pairs);
        assert!(facts.claims(pumpguard_core::rules::BrowserClaim::Browser));
        assert!(pumpguard_core::rules::lacks_header(&pairs, "accept-language"));
        assert_eq!(id.tls(&mut rng).1, ClientKind::PythonRequests.ja4());
    }

    #[test]
    fn better_disguises_claim_chrome_and_miss_what_chrome_sends() {
        use pumpguard_core::rules::{lacks_header, BrowserClaim, ClientFacts, UserAgentClass};
        let mut rng = Rng::new(5);
        let out = Outgoing { host: "app.example.com", page: "/signup", body: "{}", token: None };
        let script =
            Identity::new(&mut rng, ClientKind::PythonAsChromeWithLanguage, "DE", false, 1_700_000_000);
        let headers = script.headers(&out);
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert!(ClientFacts::of(&pairs).claims(BrowserClaim::Chrome));
        assert!(!lacks_header(&pairs, "accept-language"));
        assert!(lacks_header(&pairs, "sec-ch-ua"));
        assert_eq!(script.tls(&mut rng).1, ClientKind::PythonRequests.ja4());
        let headless = Identity::new(&mut rng, ClientKind::HeadlessAsChrome, "DE", false, 1_700_000_000);
        let headers = headless.headers(&out);
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert!(ClientFacts::of(&pairs).claims(BrowserClaim::Chrome));
        assert!(!lacks_header(&pairs, "sec-ch-ua"));
        assert_eq!(ClientFacts::of(&pairs).classes(), [UserAgentClass::Headless]);
        // Real Chrome claims it and sends what it claims.
        let chrome = Identity::new(&mut rng, ClientKind::ChromeDesktop, "DE", false, 1_700_000_000);
        let headers = chrome.headers(&out);
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert!(ClientFacts::of(&pairs).claims(BrowserClaim::Chrome));
        assert!(!lacks_header(&pairs, "sec-ch-ua"));
        assert!(ClientFacts::of(&pairs).classes().is_empty());
    }
}
