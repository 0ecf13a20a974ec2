//! The `client` rule: what the request says about the software that sent it. Browsers and the
//! apps of a site send headers a bare script leaves out (a cookie, `accept-language`), and HTTP
//! libraries, command-line tools, headless browsers and crawlers name themselves in
//! `user-agent`. Neither proves anything alone (a script can send any header), which is why the
//! usual action of a `client` rule is `challenge`, not `block`.

/// What kind of software a `user-agent` names.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAgentClass {
    /// No `user-agent` header, or a blank one.
    Empty,
    /// A general-purpose HTTP library of a scripting or server language (`python-requests`,
    /// `Go-http-client`, `axios`, `node-fetch`, `Java`, `Apache-HttpClient`, `curl` as a library
    /// is `cli`). Mobile networking stacks apps use (`okhttp`, `CFNetwork`, `Dart`) are
    /// `app_http_library`, so a site whose own app sends them can leave them alone.
    HttpLibrary,
    /// A mobile app networking stack: `okhttp`, `CFNetwork`, `Dart`, `Dalvik`.
    AppHttpLibrary,
    /// A command-line tool: `curl`, `Wget`, `HTTPie`, `PowerShell`, `xh`.
    Cli,
    /// A headless or automated browser that says so: `HeadlessChrome`, `PhantomJS`.
    Headless,
    /// A crawler or monitoring robot (`Googlebot`, `bingbot`, anything naming itself a bot,
    /// spider or crawler).
    Bot,
}

impl UserAgentClass {
    /// The policy spelling, also the finding's detail.
    pub fn as_str(self) -> &'static str {
        match self {
            UserAgentClass::Empty => "empty",
            UserAgentClass::HttpLibrary => "http_library",
            UserAgentClass::AppHttpLibrary => "app_http_library",
            UserAgentClass::Cli => "cli",
            UserAgentClass::Headless => "headless",
            UserAgentClass::Bot => "bot",
        }
    }
}

/// Product names (before the `/version`, compared ignoring ASCII case) per class.
const HTTP_LIBRARIES: &[&str] = &[
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "httpx",
    "urllib3",
    "go-http-client",
    "java",
    "apache-httpclient",
    "jakarta commons-httpclient",
    "axios",
    "node-fetch",
    "undici",
    "node",
    "got",
    "superagent",
    "ruby",
    "faraday",
    "httparty",
    "rest-client",
    "guzzlehttp",
    "php",
    "libwww-perl",
    "lwp::simple",
    "winhttp",
    "reqwest",
    "hyper",
    "restsharp",
    "scrapy",
    "mechanize",
];
const APP_HTTP_LIBRARIES: &[&str] = &["okhttp", "cfnetwork", "dart", "dalvik", "alamofire"];
const CLIS: &[&str] = &["curl", "wget", "httpie", "xh", "powershell", "wget2", "aria2"];
const HEADLESS: &[&str] = &["headlesschrome", "phantomjs", "headlessfirefox"];

/// The classes of a non-empty, lower-cased user agent whose product names are `products`.
fn classes_of(lowered: &str, products: &[&str]) -> Vec<UserAgentClass> {
    let mut classes = Vec::new();
    let named = |list: &[&str]| products.iter().any(|p| list.contains(p));
    if named(HTTP_LIBRARIES) {
        classes.push(UserAgentClass::HttpLibrary);
    }
    if named(APP_HTTP_LIBRARIES) {
        classes.push(UserAgentClass::AppHttpLibrary);
    }
    if named(CLIS) {
        classes.push(UserAgentClass::Cli);
    }
    if named(HEADLESS) {
        classes.push(UserAgentClass::Headless);
    }
    if ["bot", "spider", "crawler"].iter().any(|w| names_itself(lowered, w)) {
        classes.push(UserAgentClass::Bot);
    }
    classes
}

/// What a request's `user-agent` must claim for a `client` rule to judge it. A claim is a promise
/// of headers the claimed software always sends; a request that makes it without them is
/// software pretending, while one that makes no claim (an app, a script naming itself) is left
/// to other rules.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrowserClaim {
    /// Any browser: `Mozilla/…` first, a browser engine named outside its comments
    /// (`AppleWebKit`, `Gecko`), and none of the [`UserAgentClass`]es. Every browser, in-app web
    /// views too, sends `accept-language`.
    Browser,
    /// Google Chrome or Microsoft Edge, version 90 or later, and nothing else: a browser claim
    /// whose products are only Chrome's (`Chrome/…`, `Safari/…`, `Mobile`, Edge's `Edg/…`).
    /// Those send `sec-ch-ua` on every request of a secure page. Other Chromium browsers,
    /// Android web views (`Version/4.0`, or `wv` in the comment), Chrome on iOS (`CriOS`:
    /// Safari's engine) and embedded shells are not judged.
    Chrome,
}

/// What one request says about its client, worked out once per request whatever the number of
/// `client` rules: its [`UserAgentClass`]es and the [`BrowserClaim`]s its `user-agent` makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientFacts {
    classes: Vec<UserAgentClass>,
    browser: bool,
    chrome: bool,
}

impl ClientFacts {
    /// The facts of a request's headers.
    pub fn of(headers: &[(&str, &str)]) -> ClientFacts {
        let mut facts = ClientFacts::of_user_agent(user_agent(headers));
        if !facts.classes.contains(&UserAgentClass::Headless) && hints_headless(headers) {
            facts.classes.push(UserAgentClass::Headless);
        }
        facts
    }

    /// The facts of a `user-agent` value alone (no client hints).
    fn of_user_agent(user_agent: Option<&str>) -> ClientFacts {
        let value = user_agent.map(str::trim).unwrap_or("");
        if value.is_empty() {
            return ClientFacts { classes: vec![UserAgentClass::Empty], browser: false, chrome: false };
        }
        let lowered = value.to_ascii_lowercase();
        let tokens: Vec<&str> = product_tokens(&lowered).collect();
        let products: Vec<&str> = tokens.iter().map(|t| product_name(t)).collect();
        let classes = classes_of(&lowered, &products);
        let browser = classes.is_empty()
            && products.first() == Some(&"mozilla")
            && products.iter().skip(1).any(|p| BROWSER_ENGINES.contains(p));
        // An Android web view says `wv` in its comment, whatever its app made of the products.
        let chrome = browser
            && !lowered.contains("; wv)")
            && products.iter().all(|p| CHROME_PRODUCTS.contains(p))
            && tokens.iter().any(|t| chrome_major(t).is_some_and(|major| major >= FIRST_CHROME_WITH_HINTS));
        ClientFacts { classes, browser, chrome }
    }

    /// The request's classes: its `user-agent`'s, and `headless` where `sec-ch-ua` names headless
    /// Chrome under another `user-agent`.
    pub fn classes(&self) -> &[UserAgentClass] {
        &self.classes
    }

    /// Whether the `user-agent` makes `claim`.
    pub fn claims(&self, claim: BrowserClaim) -> bool {
        match claim {
            BrowserClaim::Browser => self.browser,
            BrowserClaim::Chrome => self.chrome,
        }
    }
}

/// The products of Chrome's and Edge's `user-agent`, lower-cased (`Mozilla/5.0 (…)
/// AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 [Mobile] Safari/537.36 [Edg/141…]`).
const CHROME_PRODUCTS: &[&str] = &["mozilla", "applewebkit", "chrome", "mobile", "safari", "edg"];

/// The first version of Chrome and Edge that sends `sec-ch-ua` by default (both shipped
/// User-Agent Client Hints in version 90).
const FIRST_CHROME_WITH_HINTS: u32 = 90;

/// The major version of a `chrome/…` token (`chrome/141.0.0.0` → 141).
fn chrome_major(token: &str) -> Option<u32> {
    let version = token.strip_prefix("chrome/")?;
    version.split('.').next()?.parse().ok()
}

/// Whether the request's `sec-ch-ua` names headless Chrome as a brand. Headless Chrome sends
/// `"HeadlessChrome"` there even when its automation overrides the `user-agent` string.
fn hints_headless(headers: &[(&str, &str)]) -> bool {
    headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("sec-ch-ua") && v.to_ascii_lowercase().contains("\"headlesschrome\"")
    })
}

/// Engines a browser's `user-agent` names as products (Chrome, Edge, Opera and Safari:
/// `AppleWebKit`; Firefox: `Gecko`; the last Internet Explorer: `like Gecko`).
const BROWSER_ENGINES: &[&str] = &["applewebkit", "gecko"];

/// A product token's name (`chrome/141.0` → `chrome`).
fn product_name(token: &str) -> &str {
    token.split('/').next().unwrap_or(token)
}

/// The `name/version` tokens of a lower-cased user agent outside parenthesised comments.
fn product_tokens(lowered: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0usize;
    let mut outside = Vec::new();
    let mut start = None;
    for (i, c) in lowered.char_indices() {
        match c {
            '(' => {
                if let Some(s) = start.take() {
                    outside.push(&lowered[s..i]);
                }
                depth += 1;
            }
            ')' => depth = depth.saturating_sub(1),
            c if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    outside.push(&lowered[s..i]);
                }
            }
            _ if depth == 0 && start.is_none() => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        outside.push(&lowered[s..]);
    }
    outside.into_iter().filter(|token| !product_name(token).is_empty())
}

/// Whether a word of the value ends in `word` (`googlebot`, `bingbot/2.0`, `+http://…/bot.html`
/// do; `Abbotsford` does not: the word must end there).
fn names_itself(lowered: &str, word: &str) -> bool {
    lowered.match_indices(word).any(|(at, _)| {
        let end = at + word.len();
        lowered[end..].chars().next().is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

/// Whether the request lacks the header `name` (lower-case), or carries it only empty.
pub fn lacks_header(headers: &[(&str, &str)], name: &str) -> bool {
    !headers.iter().any(|(n, v)| n.eq_ignore_ascii_case(name) && !v.trim().is_empty())
}

/// The first `user-agent` value of the request.
pub fn user_agent<'a>(headers: &[(&'a str, &'a str)]) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("user-agent")).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use UserAgentClass::*;

    #[test]
    fn classes_of_common_agents() {
        let cases: &[(Option<&str>, &[UserAgentClass])] = &[
            (None, &[Empty]),
            (Some("  "), &[Empty]),
            (Some("python-requests/2.31.0"), &[HttpLibrary]),
            (Some("Go-http-client/2.0"), &[HttpLibrary]),
            (Some("axios/1.6.7"), &[HttpLibrary]),
            (Some("Java/17.0.2"), &[HttpLibrary]),
            (Some("curl/8.5.0"), &[Cli]),
            (Some("Wget/1.21.4"), &[Cli]),
            (Some("okhttp/4.12.0"), &[AppHttpLibrary]),
            (Some("MyApp/3.2 CFNetwork/1490.0.4 Darwin/23.2.0"), &[AppHttpLibrary]),
            (
                Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"),
                &[Headless],
            ),
            (Some("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"), &[Bot]),
            (Some("Mozilla/5.0 (compatible; bingbot/2.0)"), &[Bot]),
            (
                Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
                &[],
            ),
            (
                Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"),
                &[],
            ),
            // A comment naming a library is not the product: browsers on Java-named devices stay browsers.
            (Some("Mozilla/5.0 (Linux; Java; Android 14) Chrome/120.0"), &[]),
            (Some("Mozilla/5.0 (Abbotsford Kiosk) Firefox/121.0"), &[]),
        ];
        for (ua, expected) in cases {
            assert_eq!(ClientFacts::of_user_agent(*ua).classes(), *expected, "{ua:?}");
        }
    }

    #[test]
    fn browsers_and_what_only_pretends() {
        let browsers = [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
            "Mozilla/5.0 (Linux; Android 14; K; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0 Mobile Safari/537.36",
            // An iOS web view names no browser, only the engine.
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
            "Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko",
        ];
        let others = [
            "",
            "okhttp/4.12.0",
            "MyApp/3.2 CFNetwork/1490.0.4 Darwin/23.2.0",
            "python-requests/2.31.0",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            // The engine only inside a comment, or Mozilla not first.
            "Mozilla/5.0 (compatible; AppleWebKit)",
            "Chrome/120.0 Mozilla/5.0 AppleWebKit/537.36",
            "Mozilla/5.0",
        ];
        assert_claims(BrowserClaim::Browser, &browsers, &others);
    }

    /// `claim` holds for every user agent of `made`, for none of `not_made`, nor for no header.
    fn assert_claims(claim: BrowserClaim, made: &[&str], not_made: &[&str]) {
        for ua in made {
            assert!(ClientFacts::of_user_agent(Some(ua)).claims(claim), "{claim:?}: {ua}");
        }
        for ua in not_made {
            assert!(!ClientFacts::of_user_agent(Some(ua)).claims(claim), "{claim:?}: {ua}");
        }
        assert!(!ClientFacts::of_user_agent(None).claims(claim));
    }

    #[test]
    fn chrome_claims_are_chrome_and_edge_alone() {
        let chrome = [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.93 Safari/537.36",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36 Edg/141.0.0.0",
        ];

        let others = [
            // Before client hints.
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/89.0.4389.90 Safari/537.36",
            // Browsers that never send them.
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:144.0) Gecko/20100101 Firefox/144.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/141.0.7390.41 Mobile/15E148 Safari/604.1",
            // Web views, other Chromium browsers and shells name more than Chrome does.
            "Mozilla/5.0 (Linux; Android 14; K; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/141.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 13; Pixel 7; wv) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36 OPR/125.0.0.0",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Acme/3.1.0 Chrome/138.0.7204.243 Electron/37.6.0 Safari/537.36",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/141.0.0.0 Safari/537.36",
            // No version to read, or no Chrome at all.
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/x Safari/537.36",
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Safari/537.36",
            "python-requests/2.32.3",
            "",
        ];
        assert_claims(BrowserClaim::Chrome, &chrome, &others);
        // Chrome is a browser.
        assert_claims(BrowserClaim::Browser, &chrome, &[]);
    }

    #[test]
    fn headless_chrome_shows_in_its_hints_under_another_user_agent() {
        let chrome_ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36";
        let dressed = [
            ("user-agent", chrome_ua),
            ("Sec-CH-UA", "\"HeadlessChrome\";v=\"141\", \"Not?A_Brand\";v=\"8\", \"Chromium\";v=\"141\""),
        ];
        assert_eq!(ClientFacts::of(&dressed).classes(), vec![Headless]);
        let real =
            [("user-agent", chrome_ua), ("sec-ch-ua", "\"Google Chrome\";v=\"141\", \"Chromium\";v=\"141\"")];
        assert_eq!(ClientFacts::of(&real).classes(), vec![]);
        // Named in both, counted once.
        let plain = [
            ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/141.0.0.0 Safari/537.36"),
            ("sec-ch-ua", "\"HeadlessChrome\";v=\"141\""),
        ];
        assert_eq!(ClientFacts::of(&plain).classes(), vec![Headless]);
        assert_eq!(ClientFacts::of(&[]).classes(), vec![Empty]);
    }

    #[test]
    fn header_presence_ignores_case_and_blank_values() {
        let headers = [("Cookie", "sid=1"), ("accept-language", "  ")];
        assert!(!lacks_header(&headers, "cookie"));
        assert!(lacks_header(&headers, "accept-language"));
        assert!(lacks_header(&headers, "origin"));
        assert_eq!(user_agent(&[("User-Agent", "curl/8")]), Some("curl/8"));
    }

    #[test]
    fn hostile_values_do_not_panic() {
        for ua in ["(((", ")))/", "/", "a/b/c (d (e) f", "bot", "\u{ff0f}bot", "é/é (ü) bot"] {
            let _ = ClientFacts::of_user_agent(Some(ua));
        }
        assert_eq!(ClientFacts::of_user_agent(Some("bot")).classes(), [Bot]);
    }
}
