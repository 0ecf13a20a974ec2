use proptest::prelude::*;

use super::*;

/// Section a plus the comma-joined pre-images of b, c and d: FoxIO's sorted raw form `ja4h_r`.
fn ja4h_raw(method: &str, version: HttpVersion, headers: &[(&str, &str)]) -> String {
    let mut header_names = CommaJoined::new(Vec::new());
    let mut cookie_names = CommaJoined::new(Vec::new());
    let mut cookie_pairs = CommaJoined::new(Vec::new());
    let section_a =
        hash_sections(method, version, headers, &mut header_names, &mut cookie_names, &mut cookie_pairs);
    [section_a.to_vec(), header_names.sink, cookie_names.sink, cookie_pairs.sink]
        .map(|part| String::from_utf8(part).unwrap())
        .join("_")
}

/// `^[a-z0-9]{2}(10|11|20|30)[cn][rn][0-9]{2}[a-z0-9*]{4}_[0-9a-f]{12}_[0-9a-f]{12}_[0-9a-f]{12}$`
fn has_ja4h_format(s: &str) -> bool {
    let b = s.as_bytes();
    let lower_alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let lower_hex = |c: &u8| matches!(c, b'0'..=b'9' | b'a'..=b'f');
    b.len() == 51
        && b[..2].iter().all(lower_alnum)
        && matches!(&b[2..4], b"10" | b"11" | b"20" | b"30")
        && matches!(b[4], b'c' | b'n')
        && matches!(b[5], b'r' | b'n')
        && b[6..8].iter().all(u8::is_ascii_digit)
        && b[8..12].iter().all(|c| lower_alnum(c) || *c == b'*')
        && [12, 25, 38].iter().all(|&i| b[i] == b'_')
        && [13..25, 26..38, 39..51].into_iter().all(|range| b[range].iter().all(lower_hex))
}

/// The request from FoxIO's Rust unit test `test_http_stats_into_out` (rust/ja4/src/http.rs).
const CNN_HEADERS: [(&str, &str); 15] = [
    ("Host", "www.cnn.com"),
    ("Cookie", "FastAB=0=6859,1=8174,2=4183,3=3319,4=3917,5=2557,6=4259,7=6070,8=0804,9=6453,10=1942,11=4435,12=4143,13=9445,14=6957,15=8682,16=1885,17=1825,18=3760,19=0929; sato=1; countryCode=US; stateCode=VA; geoData=purcellville|VA|20132|US|NA|-400|broadband|39.160|-77.700|511; usprivacy=1---; umto=1; _dd_s=logs=1&id=b5c2d770-eaba-4847-8202-390c4552ff9a&created=1686159462724&expire=1686160422726"),
    ("Sec-Ch-Ua", ""),
    ("Sec-Ch-Ua-Mobile", "?0"),
    ("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.110 Safari/537.36"),
    ("Sec-Ch-Ua-Platform", "\"\""),
    ("Accept", "*/*"),
    ("Sec-Fetch-Site", "same-origin"),
    ("Sec-Fetch-Mode", "cors"),
    ("Sec-Fetch-Dest", "empty"),
    ("Sec-Fetch-Mode", "cors"),
    ("Sec-Fetch-Dest", "empty"),
    ("Referer", "https://www.cnn.com/"),
    ("Accept-Encoding", "gzip, deflate"),
    ("Accept-Language", "en-US,en;q=0.9"),
];

#[test]
fn foxio_rust_unit_test_vector() {
    let fingerprint = ja4h("GET", HttpVersion::Http11, &CNN_HEADERS);
    assert_eq!(fingerprint.as_str(), "ge11cr13enus_88d2d584d47f_0f2659b474bf_161698816dab");
    // FoxIO's `ja4h_r` for the same request: the exact pre-images.
    assert_eq!(
        ja4h_raw("GET", HttpVersion::Http11, &CNN_HEADERS),
        "ge11cr13enus_Host,Sec-Ch-Ua,Sec-Ch-Ua-Mobile,User-Agent,Sec-Ch-Ua-Platform,Accept,Sec-Fetch-Site,Sec-Fetch-Mode,Sec-Fetch-Dest,Sec-Fetch-Mode,Sec-Fetch-Dest,Accept-Encoding,Accept-Language_FastAB,_dd_s,countryCode,geoData,sato,stateCode,umto,usprivacy_FastAB=0=6859,1=8174,2=4183,3=3319,4=3917,5=2557,6=4259,7=6070,8=0804,9=6453,10=1942,11=4435,12=4143,13=9445,14=6957,15=8682,16=1885,17=1825,18=3760,19=0929,_dd_s=logs=1&id=b5c2d770-eaba-4847-8202-390c4552ff9a&created=1686159462724&expire=1686160422726,countryCode=US,geoData=purcellville|VA|20132|US|NA|-400|broadband|39.160|-77.700|511,sato=1,stateCode=VA,umto=1,usprivacy=1---"
    );
}

struct FoxioVector {
    expected: &'static str,
    method: &'static str,
    version: HttpVersion,
    headers: &'static [(&'static str, &'static str)],
}

#[test]
fn foxio_capture_vectors() {
    for vector in &FOXIO_CAPTURE_VECTORS {
        let fingerprint = ja4h(vector.method, vector.version, vector.headers);
        assert_eq!(
            fingerprint.as_str(),
            vector.expected,
            "raw: {}",
            ja4h_raw(vector.method, vector.version, vector.headers)
        );
    }
}

#[test]
fn foxio_primary_language_cases() {
    // FoxIO's `test_primary_language`.
    assert_eq!(&language_code(Some("da, en-GB;q=0.8, en;q=0.7")), b"da00");
    assert_eq!(&language_code(Some("en-US,en;q=0.9")), b"enus");
    // Truncation and padding, as in FoxIO's `test_truncate_to`.
    assert_eq!(&language_code(Some("zh-Hant-TW")), b"zhha");
    assert_eq!(&language_code(Some("abc")), b"abc0");
    assert_eq!(&language_code(Some("a")), b"a000");
    assert_eq!(&language_code(Some("")), b"0000");
    assert_eq!(&language_code(None), b"0000");
    // q-value on the first entry ends it (FoxIO Python).
    assert_eq!(&language_code(Some("en;q=0.9,de")), b"en00");
    assert_eq!(&language_code(Some("  fr-CH , fr")), b"frch");
    assert_eq!(&language_code(Some("*")), b"*000");
    // Non-ASCII or punctuation never leaks into the key.
    assert_eq!(&language_code(Some("ü_x.y")), b"00x0");
}

#[test]
fn foxio_method_and_version_codes() {
    // FoxIO's `test_http_request_method` / `test_http_version`, plus methods it does not list.
    assert_eq!(&method_code("GET"), b"ge");
    assert_eq!(&method_code("CONNECT"), b"co");
    assert_eq!(&method_code("OPTIONS"), b"op");
    assert_eq!(&method_code("get"), b"ge");
    assert_eq!(&method_code("M-SEARCH"), b"m0");
    assert_eq!(&method_code("X"), b"x0");
    assert_eq!(&method_code(""), b"00");
    assert_eq!(&method_code("ÜBER"), b"0b");
    assert_eq!(&version_code(HttpVersion::Http10), b"10");
    assert_eq!(&version_code(HttpVersion::Http11), b"11");
    assert_eq!(&version_code(HttpVersion::Http2), b"20");
    assert_eq!(&version_code(HttpVersion::Http3), b"30");
}

#[test]
fn foxio_cookie_pair_cases() {
    // FoxIO's `test_cookie_pairs`.
    assert_eq!(split_cookie_header("").count(), 0);
    let cookie = |name, value, text| Cookie { name, value, text };
    assert_eq!(split_cookie_header("no-value").collect::<Vec<_>>(), [cookie("no-value", None, "no-value")]);
    assert_eq!(
        split_cookie_header("multiple=equal=signs").collect::<Vec<_>>(),
        [cookie("multiple", Some("equal=signs"), "multiple=equal=signs")]
    );
    assert_eq!(
        split_cookie_header("foo=bar; baz=qux").collect::<Vec<_>>(),
        [cookie("foo", Some("bar"), "foo=bar"), cookie("baz", Some("qux"), "baz=qux")]
    );
    // Blanks and empty pieces.
    assert_eq!(
        split_cookie_header(" a = 1 ;;b=2;").collect::<Vec<_>>(),
        [cookie("a", Some(" 1"), "a = 1"), cookie("b", Some("2"), "b=2")]
    );
}

#[test]
fn foxio_cookie_sorting_and_joining() {
    // FoxIO's `test_cookie_pairs_sorting`: sorted by name, then by value, no value first.
    let headers = [(
        "Cookie",
        "pardot=tee2foreb3fefpgvk8u1056vt3; visitor_id413862-hash=1f00bdb076b5fb707c70254849819ec1797d3e27cef91a61a9488cb7ca0ebf77f226caa4075591b2591bf9a1ccdf29432c67379b; visitor_id413862=286585660; a=y=z; a=x; no-value",
    )];
    assert_eq!(
        ja4h_raw("GET", HttpVersion::Http11, &headers),
        "ge11cn000000__a,a,no-value,pardot,visitor_id413862,visitor_id413862-hash_a=x,a=y=z,no-value,pardot=tee2foreb3fefpgvk8u1056vt3,visitor_id413862=286585660,visitor_id413862-hash=1f00bdb076b5fb707c70254849819ec1797d3e27cef91a61a9488cb7ca0ebf77f226caa4075591b2591bf9a1ccdf29432c67379b"
    );
    // FoxIO's `test_joined_cookies`.
    let headers = [("Cookie", "a=1; b; c=3; d=")];
    assert_eq!(ja4h_raw("GET", HttpVersion::Http11, &headers), "ge11cn000000__a,b,c,d_a=1,b,c=3,d=");
}

#[test]
fn http2_cookie_crumbs_equal_one_joined_header() {
    let crumbs =
        [(":method", "GET"), ("user-agent", "ua"), ("cookie", "b=2"), ("accept", "*/*"), ("cookie", "a=1")];
    let joined = [("user-agent", "ua"), ("accept", "*/*"), ("cookie", "a=1; b=2")];
    assert_eq!(ja4h("GET", HttpVersion::Http2, &crumbs), ja4h("GET", HttpVersion::Http2, &joined));
    assert_eq!(ja4h_raw("GET", HttpVersion::Http2, &crumbs), "ge20cn020000_user-agent,accept_a,b_a=1,b=2");
}

#[test]
fn counts_cap_at_99_and_empty_lists_hash_to_zeros() {
    assert_eq!(
        ja4h("GET", HttpVersion::Http11, &[]).as_str(),
        "ge11nn000000_000000000000_000000000000_000000000000"
    );
    // A Cookie header with no cookies in it still sets the flag.
    assert_eq!(
        ja4h("POST", HttpVersion::Http2, &[("cookie", " ; ")]).as_str(),
        "po20cn000000_000000000000_000000000000_000000000000"
    );
    let names: Vec<String> = (0..150).map(|i| format!("x-h{i}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    assert!(ja4h("GET", HttpVersion::Http11, &headers).as_str().starts_with("ge11nn990000_"));
}

#[test]
fn value_type_traits() {
    let fingerprint = ja4h("GET", HttpVersion::Http11, &CNN_HEADERS);
    assert_eq!(fingerprint.to_string(), fingerprint.as_str());
    assert_eq!(fingerprint.as_ref(), fingerprint.as_str());
    assert_eq!(format!("{fingerprint:?}"), format!("Ja4h({:?})", fingerprint.as_str()));
    assert!(has_ja4h_format(fingerprint.as_str()));
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Cookie".to_owned()),
        Just("cookie".to_owned()),
        Just("REFERER".to_owned()),
        Just("accept-language".to_owned()),
        Just("Accept-Language".to_owned()),
        Just(":method".to_owned()),
        Just(String::new()),
        "[a-zA-Z-]{1,12}",
        any::<String>(),
    ]
}

fn version() -> impl Strategy<Value = HttpVersion> {
    proptest::sample::select(
        &[HttpVersion::Http10, HttpVersion::Http11, HttpVersion::Http2, HttpVersion::Http3][..],
    )
}

proptest! {
    #[test]
    fn always_well_formed(
        method in prop_oneof![Just("GET".to_owned()), any::<String>()],
        version in version(),
        headers in proptest::collection::vec((header_name(), any::<String>()), 0..40),
    ) {
        let headers: Vec<(&str, &str)> =
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let fingerprint = ja4h(&method, version, &headers);
        prop_assert!(has_ja4h_format(fingerprint.as_str()), "{}", fingerprint);
    }

    #[test]
    fn cookie_order_does_not_matter(
        cookies in proptest::collection::vec("[a-zA-Z_]{1,6}(=[a-z0-9=]{0,6})?", 0..10),
        rotation in any::<prop::sample::Index>(),
    ) {
        let mut rotated = cookies.clone();
        if !rotated.is_empty() {
            let by = rotation.index(rotated.len());
            rotated.rotate_left(by);
        }
        let original = cookies.join("; ");
        let rotated = rotated.join("; ");
        prop_assert_eq!(
            ja4h("GET", HttpVersion::Http11, &[("Cookie", &original)]),
            ja4h("GET", HttpVersion::Http11, &[("Cookie", &rotated)])
        );
    }
}

/// JA4H values from FoxIO-LLC/ja4 `python/test/testdata/*.json` (26 distinct), with inputs
/// rebuilt from the matching `JA4H_ro` raw strings. HTTP/1.x ones equal the Rust reference's
/// snapshots too.
const FOXIO_CAPTURE_VECTORS: [FoxioVector; 26] = [
    // CVE-2018-6794.pcap
    FoxioVector {
        expected: "ge11nn07ruru_6cd0fb54989b_000000000000_000000000000",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Host", "v"),
            ("Connection", "v"),
            ("User-Agent", "v"),
            ("Upgrade-Insecure-Requests", "v"),
            ("Accept", "v"),
            ("Accept-Encoding", "v"),
            ("Accept-Language", "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"),
        ],
    },
    // CVE-2018-6794.pcap
    FoxioVector {
        expected: "ge11nr06ruru_cc6ec9a91856_000000000000_000000000000",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Host", "v"),
            ("Connection", "v"),
            ("User-Agent", "v"),
            ("Accept", "v"),
            ("Accept-Encoding", "v"),
            ("Accept-Language", "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"),
            ("Referer", "https://example.com/"),
        ],
    },
    // chrome-cloudflare-quic-with-secrets.pcapng // QUIC capture; FoxIO Python labels it HTTP/2 ("20")
    FoxioVector {
        expected: "ge20nn12enus_60f823d07c94_000000000000_000000000000",
        method: "GET",
        version: HttpVersion::Http2,
        headers: &[
            ("sec-ch-ua", "v"),
            ("sec-ch-ua-mobile", "v"),
            ("sec-ch-ua-platform", "v"),
            ("upgrade-insecure-requests", "v"),
            ("user-agent", "v"),
            ("accept", "v"),
            ("sec-fetch-site", "v"),
            ("sec-fetch-mode", "v"),
            ("sec-fetch-user", "v"),
            ("sec-fetch-dest", "v"),
            ("accept-encoding", "v"),
            ("accept-language", "en-US,en;q=0.9"),
        ],
    },
    // http-empty-useragent.pcap
    FoxioVector {
        expected: "ge10nn010000_b8bcd45ac095_000000000000_000000000000",
        method: "GET",
        version: HttpVersion::Http10,
        headers: &[
            ("User-Agent", "v"),
        ],
    },
    // http1-with-cookies.pcapng
    FoxioVector {
        expected: "ge11cr04da00_8ddaef5d77af_280f366eaa04_c2fb0fe53442",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Host", "v"),
            ("User-Agent", "v"),
            ("Accept", "v"),
            ("Accept-Language", "da, en-gb;q=0.8, en;q=0.7"),
            ("Referer", "https://example.com/"),
            ("Cookie", "yummy_cookie=choco; tasty_cookie=strawberry"),
        ],
    },
    // http1.pcapng
    FoxioVector {
        expected: "po11nn050000_530ceba2075f_000000000000_000000000000",
        method: "POST",
        version: HttpVersion::Http11,
        headers: &[
            ("Host", "v"),
            ("Accept", "v"),
            ("User-Agent", "v"),
            ("Content-Type", "v"),
            ("Content-Length", "v"),
        ],
    },
    // http1.pcapng
    FoxioVector {
        expected: "he11nn05enus_6f8992deff94_000000000000_000000000000",
        method: "HEAD",
        version: HttpVersion::Http11,
        headers: &[
            ("Host", "v"),
            ("Connection", "v"),
            ("User-Agent", "v"),
            ("Accept-Encoding", "v"),
            ("Accept-Language", "en-US,en;q=0.9"),
        ],
    },
    // http1.pcapng
    FoxioVector {
        expected: "ge11nn040000_ad0fd3707af2_000000000000_000000000000",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Host", "v"),
            ("User-Agent", "v"),
            ("Accept", "v"),
            ("Range", "v"),
        ],
    },
    // http1.pcapng
    FoxioVector {
        expected: "ge11nn040000_4f6f4aad0c1e_000000000000_000000000000",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("User-Agent", "v"),
            ("Host", "v"),
            ("Connection", "v"),
            ("Accept-Encoding", "v"),
        ],
    },
    // http1.pcapng
    FoxioVector {
        expected: "he11nn040000_4f6f4aad0c1e_000000000000_000000000000",
        method: "HEAD",
        version: HttpVersion::Http11,
        headers: &[
            ("User-Agent", "v"),
            ("Host", "v"),
            ("Connection", "v"),
            ("Accept-Encoding", "v"),
        ],
    },
    // http1.pcapng
    FoxioVector {
        expected: "ge11nn050000_e1365771aae9_000000000000_000000000000",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Host", "v"),
            ("Date", "v"),
            ("User-Agent", "v"),
            ("X-AV-Physical-Unit-Info", "v"),
            ("X-AV-Client-Info", "v"),
        ],
    },
    // http1.pcapng
    FoxioVector {
        expected: "ge11nn040000_532a1ee47909_000000000000_000000000000",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Host", "v"),
            ("User-Agent", "v"),
            ("Connection", "v"),
            ("Accept-Encoding", "v"),
        ],
    },
    // http1.pcapng
    FoxioVector {
        expected: "ge11nn030000_f8649f6808db_000000000000_000000000000",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Host", "v"),
            ("Connection", "v"),
            ("User-Agent", "v"),
        ],
    },
    // http1.pcapng
    FoxioVector {
        expected: "po11nn080000_6977d1188c03_000000000000_000000000000",
        method: "POST",
        version: HttpVersion::Http11,
        headers: &[
            ("Host", "v"),
            ("User-Agent", "v"),
            ("Content-Length", "v"),
            ("Content-Type", "v"),
            ("SOAPAction", "v"),
            ("Connection", "v"),
            ("Cache-Control", "v"),
            ("Pragma", "v"),
        ],
    },
    // http2-with-cookies.pcapng
    FoxioVector {
        expected: "ge20cn19enus_cb83bf27b7a9_c7713052b7e4_348cad68b6fb",
        method: "GET",
        version: HttpVersion::Http2,
        headers: &[
            ("sec-ch-ua", "v"),
            ("sec-ch-ua-mobile", "v"),
            ("sec-ch-ua-platform", "v"),
            ("upgrade-insecure-requests", "v"),
            ("user-agent", "v"),
            ("accept", "v"),
            ("sec-ch-ua-arch", "v"),
            ("sec-ch-ua-platform-version", "v"),
            ("sec-ch-ua-model", "v"),
            ("sec-ch-ua-bitness", "v"),
            ("sec-ch-ua-wow64", "v"),
            ("sec-ch-ua-full-version-list", "v"),
            ("x-client-data", "v"),
            ("sec-fetch-site", "v"),
            ("sec-fetch-mode", "v"),
            ("sec-fetch-user", "v"),
            ("sec-fetch-dest", "v"),
            ("accept-encoding", "v"),
            ("accept-language", "en-US,en;q=0.9"),
            ("cookie", "VISITOR_INFO1_LIVE=5CuVaSL9wDE"),
            ("cookie", "LOGIN_INFO=AFmmF2swRgIhAOltLQJUxXKDwpOeYd1REmFWIv-SZOX5_Mt3l8dB8TUyAiEAq9Hxidx9TIYr9Usi0QvZwoAY7hWdD0TrwUBJ-vDNhFw:QUQ3MjNmeHlXOVFoOGc1bWNjT2VKNnZPVlJzVktiM3pXc2ExNENfTkFqZzh6SEFIODBCWUo2d0hZU1preThtcjVjNW1oV1NXX2dXbV9laUsxN2gxNlRMZGM4QlVEMkJNVFR3UWpfbWtoSTdXSlVYUnRIekJiVmxXT0NLMklXRmxDSEZ1M2xDYkZjYld5NTg2azdMOTRuSFg0SEQ1NmhCcXJR"),
            ("cookie", "SID=bAiSGpEASIdYDutJlWaOLSpT-A0OtSymfAqQHglc8wCyKvJK3oyvm4YN6azbdj99oAEv6g."),
            ("cookie", "__Secure-1PSIDTS=sidts-CjEB3e41hfRDIv3qE6IhIGL4regkBrZQzMepIsMI60XzPXMHjuDBFb8Jzi6e3Q_XguntEAA"),
            ("cookie", "__Secure-3PSIDTS=sidts-CjEB3e41hfRDIv3qE6IhIGL4regkBrZQzMepIsMI60XzPXMHjuDBFb8Jzi6e3Q_XguntEAA"),
            ("cookie", "__Secure-1PSID=bAiSGpEASIdYDutJlWaOLSpT-A0OtSymfAqQHglc8wCyKvJK3ZH4QQAFpOKIred2Wu8QgA."),
            ("cookie", "__Secure-3PSID=bAiSGpEASIdYDutJlWaOLSpT-A0OtSymfAqQHglc8wCyKvJK9erTPZ3XpDCPS4p8f5PnjQ."),
            ("cookie", "HSID=AOF5tyazl7ZAKFyZY"),
            ("cookie", "SSID=AqFHwVpJHIK9H1lfZ"),
            ("cookie", "APISID=pEXHoyISD5STpHG9/AajENhWjLXnfNmbhI"),
            ("cookie", "SAPISID=_4e9wsQoZw81B655/A2zwmxsRQhzaXtNW0"),
            ("cookie", "__Secure-1PAPISID=_4e9wsQoZw81B655/A2zwmxsRQhzaXtNW0"),
            ("cookie", "__Secure-3PAPISID=_4e9wsQoZw81B655/A2zwmxsRQhzaXtNW0"),
            ("cookie", "__Secure-3PSIDCC=APoG2W80ReNqY71qp2I8hZk8BsmVmWk_ejh3LtS-HuboNyHI73aZAnaQhqTWkTHUiz45rCPv"),
        ],
    },
    // http2-with-cookies.pcapng
    FoxioVector {
        expected: "ge20cn13enus_8e33b43baae9_e43af2e8abfe_015bb0ca5596",
        method: "GET",
        version: HttpVersion::Http2,
        headers: &[
            ("upgrade-insecure-requests", "v"),
            ("user-agent", "v"),
            ("accept", "v"),
            ("x-client-data", "v"),
            ("sec-fetch-site", "v"),
            ("sec-fetch-mode", "v"),
            ("sec-fetch-user", "v"),
            ("sec-fetch-dest", "v"),
            ("sec-ch-ua", "v"),
            ("sec-ch-ua-mobile", "v"),
            ("sec-ch-ua-platform", "v"),
            ("accept-encoding", "v"),
            ("accept-language", "en-US,en;q=0.9"),
            ("cookie", "VISITOR_INFO1_LIVE=5CuVaSL9wDE"),
            ("cookie", "LOGIN_INFO=AFmmF2swRgIhAOltLQJUxXKDwpOeYd1REmFWIv-SZOX5_Mt3l8dB8TUyAiEAq9Hxidx9TIYr9Usi0QvZwoAY7hWdD0TrwUBJ-vDNhFw:QUQ3MjNmeHlXOVFoOGc1bWNjT2VKNnZPVlJzVktiM3pXc2ExNENfTkFqZzh6SEFIODBCWUo2d0hZU1preThtcjVjNW1oV1NXX2dXbV9laUsxN2gxNlRMZGM4QlVEMkJNVFR3UWpfbWtoSTdXSlVYUnRIekJiVmxXT0NLMklXRmxDSEZ1M2xDYkZjYld5NTg2azdMOTRuSFg0SEQ1NmhCcXJR"),
            ("cookie", "SID=bAiSGpEASIdYDutJlWaOLSpT-A0OtSymfAqQHglc8wCyKvJK3oyvm4YN6azbdj99oAEv6g."),
            ("cookie", "__Secure-1PSIDTS=sidts-CjEB3e41hfRDIv3qE6IhIGL4regkBrZQzMepIsMI60XzPXMHjuDBFb8Jzi6e3Q_XguntEAA"),
            ("cookie", "__Secure-3PSIDTS=sidts-CjEB3e41hfRDIv3qE6IhIGL4regkBrZQzMepIsMI60XzPXMHjuDBFb8Jzi6e3Q_XguntEAA"),
            ("cookie", "__Secure-1PSID=bAiSGpEASIdYDutJlWaOLSpT-A0OtSymfAqQHglc8wCyKvJK3ZH4QQAFpOKIred2Wu8QgA."),
            ("cookie", "__Secure-3PSID=bAiSGpEASIdYDutJlWaOLSpT-A0OtSymfAqQHglc8wCyKvJK9erTPZ3XpDCPS4p8f5PnjQ."),
            ("cookie", "HSID=AOF5tyazl7ZAKFyZY"),
            ("cookie", "SSID=AqFHwVpJHIK9H1lfZ"),
            ("cookie", "APISID=pEXHoyISD5STpHG9/AajENhWjLXnfNmbhI"),
            ("cookie", "SAPISID=_4e9wsQoZw81B655/A2zwmxsRQhzaXtNW0"),
            ("cookie", "__Secure-1PAPISID=_4e9wsQoZw81B655/A2zwmxsRQhzaXtNW0"),
            ("cookie", "__Secure-3PAPISID=_4e9wsQoZw81B655/A2zwmxsRQhzaXtNW0"),
            ("cookie", "SIDCC=APoG2W9RK6clrsnkAMIVg0rYm3am1HkEfg8dAPun6iMCVEt_0tkuDFLdjjiADNirDnahrwzeAQ"),
            ("cookie", "__Secure-1PSIDCC=APoG2W81CyAxqg4qdIqnAV5zkvXLzRfSMgA4mkydeWg9IeL-6814d1G7t95sNNSRTqgzkZji"),
            ("cookie", "__Secure-3PSIDCC=APoG2W_WfImJeKcVAH4O7muEBxWxwaZd-WwKWyO1PfcqO-vHYfyX0O9GCzXU0t6LNlvXg9w7"),
        ],
    },
    // http2-with-cookies.pcapng
    FoxioVector {
        expected: "ge20cr18enus_40430d236f7c_10ff48fdaa11_ac323afc21f7",
        method: "GET",
        version: HttpVersion::Http2,
        headers: &[
            ("sec-ch-ua", "v"),
            ("sec-ch-ua-mobile", "v"),
            ("user-agent", "v"),
            ("sec-ch-ua-arch", "v"),
            ("sec-ch-ua-full-version", "v"),
            ("sec-ch-ua-platform-version", "v"),
            ("sec-ch-ua-full-version-list", "v"),
            ("sec-ch-ua-bitness", "v"),
            ("sec-ch-ua-model", "v"),
            ("sec-ch-ua-wow64", "v"),
            ("sec-ch-ua-platform", "v"),
            ("accept", "v"),
            ("x-client-data", "v"),
            ("sec-fetch-site", "v"),
            ("sec-fetch-mode", "v"),
            ("sec-fetch-dest", "v"),
            ("accept-encoding", "v"),
            ("accept-language", "en-US,en;q=0.9"),
            ("referer", "https://example.com/"),
            ("cookie", "VISITOR_INFO1_LIVE=5CuVaSL9wDE"),
            ("cookie", "LOGIN_INFO=AFmmF2swRgIhAOltLQJUxXKDwpOeYd1REmFWIv-SZOX5_Mt3l8dB8TUyAiEAq9Hxidx9TIYr9Usi0QvZwoAY7hWdD0TrwUBJ-vDNhFw:QUQ3MjNmeHlXOVFoOGc1bWNjT2VKNnZPVlJzVktiM3pXc2ExNENfTkFqZzh6SEFIODBCWUo2d0hZU1preThtcjVjNW1oV1NXX2dXbV9laUsxN2gxNlRMZGM4QlVEMkJNVFR3UWpfbWtoSTdXSlVYUnRIekJiVmxXT0NLMklXRmxDSEZ1M2xDYkZjYld5NTg2azdMOTRuSFg0SEQ1NmhCcXJR"),
            ("cookie", "SID=bAiSGpEASIdYDutJlWaOLSpT-A0OtSymfAqQHglc8wCyKvJK3oyvm4YN6azbdj99oAEv6g."),
            ("cookie", "__Secure-1PSIDTS=sidts-CjEB3e41hfRDIv3qE6IhIGL4regkBrZQzMepIsMI60XzPXMHjuDBFb8Jzi6e3Q_XguntEAA"),
            ("cookie", "__Secure-3PSIDTS=sidts-CjEB3e41hfRDIv3qE6IhIGL4regkBrZQzMepIsMI60XzPXMHjuDBFb8Jzi6e3Q_XguntEAA"),
            ("cookie", "__Secure-1PSID=bAiSGpEASIdYDutJlWaOLSpT-A0OtSymfAqQHglc8wCyKvJK3ZH4QQAFpOKIred2Wu8QgA."),
            ("cookie", "__Secure-3PSID=bAiSGpEASIdYDutJlWaOLSpT-A0OtSymfAqQHglc8wCyKvJK9erTPZ3XpDCPS4p8f5PnjQ."),
            ("cookie", "HSID=AOF5tyazl7ZAKFyZY"),
            ("cookie", "SSID=AqFHwVpJHIK9H1lfZ"),
            ("cookie", "APISID=pEXHoyISD5STpHG9/AajENhWjLXnfNmbhI"),
            ("cookie", "SAPISID=_4e9wsQoZw81B655/A2zwmxsRQhzaXtNW0"),
            ("cookie", "__Secure-1PAPISID=_4e9wsQoZw81B655/A2zwmxsRQhzaXtNW0"),
            ("cookie", "__Secure-3PAPISID=_4e9wsQoZw81B655/A2zwmxsRQhzaXtNW0"),
            ("cookie", "YSC=fmJvKZ98ZzM"),
            ("cookie", "VISITOR_PRIVACY_METADATA=CgJDQRICGgA%3D"),
            ("cookie", "SIDCC=APoG2W_-Qsh5iRlLVDzN2OkIW0cAz_0yN7-rr-KCkBL1IXxKRG0CdQP6-ZkTxzy7D4H-DselDw"),
            ("cookie", "__Secure-1PSIDCC=APoG2W-ysomredm6Llr5hD-_lAbJvmQ7uTdjhZQS5pPUXf4Avu9tKLhKjZXAlGhtseKPB6dC"),
            ("cookie", "__Secure-3PSIDCC=APoG2W-TOlRHTYrgLGQiaBdvBhHjJ9JVpf6IZAguDfwj958a7ObWfITcu9ql2EdL0cxQ_e33"),
        ],
    },
    // https-connect.pcap
    FoxioVector {
        expected: "co10nn010000_b8bcd45ac095_000000000000_000000000000",
        method: "CONNECT",
        version: HttpVersion::Http10,
        headers: &[
            ("User-Agent", "v"),
        ],
    },
    // latest.pcapng
    FoxioVector {
        expected: "ge11nn07enus_3e3b55d61660_000000000000_000000000000",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Host", "v"),
            ("Connection", "v"),
            ("User-Agent", "v"),
            ("Accept-Encoding", "v"),
            ("Accept-Language", "en-US,en;q=0.9"),
            ("If-None-Match", "v"),
            ("If-Modified-Since", "v"),
        ],
    },
    // single-packets.pcap
    FoxioVector {
        expected: "ge11cr06enus_8c2f9ef95269_2a79f5d9f8b3_7b4d78c057bc",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Accept", "v"),
            ("Accept-Language", "en-US,en;q=0.9"),
            ("User-Agent", "v"),
            ("Accept-Encoding", "v"),
            ("Host", "v"),
            ("Connection", "v"),
            ("Referer", "https://example.com/"),
            ("Cookie", "IDE=AHWqTUmq5vKag4U1NoZpmbEiY1PYuAYVT8bFXA1KRM6sqXH_QR5G3_2xSz7V6E3B"),
        ],
    },
    // single-packets.pcap
    FoxioVector {
        expected: "ge11cr07enus_45c71a3fb6ea_a25bf252eb59_43a9e3e95c85",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Accept", "v"),
            ("X-Requested-With", "v"),
            ("Accept-Language", "en-US,en;q=0.9"),
            ("Accept-Encoding", "v"),
            ("User-Agent", "v"),
            ("Host", "v"),
            ("Connection", "v"),
            ("Referer", "https://example.com/"),
            ("Cookie", "_ga=GA1.2.349209205.1532525440; _gid=GA1.2.1042544967.1532525440; _gat=1; AMCV_A70E15F354E99A260A4C98A4%40AdobeOrg=-330454231%7CMCIDTS%7C17738%7CMCMID%7C00834244270283740751404491874386840551%7CMCAAMLH-1533130240%7C3%7CMCAAMB-1533130240%7C6G1ynYcLPuiQxYZrsz_pkqfLG9yMXBpb2zX5dvJdYQJzPXImdj0y%7CMCOPTOUT-1532532640s%7CNONE%7CMCSYNCSOP%7C411-17745%7CMCAID%7CNONE%7CvVersion%7C3.1.2; AMCVS_A70E15F354E99A260A4C98A4%40AdobeOrg=1; mbox=session#f11f91da64134d8183e8dda4dc10aaf4#1532527370|PC#f11f91da64134d8183e8dda4dc10aaf4.22_23#1540301510|check#true#1532525570; s_dfa=shgshg-web-global; s_cc=true; s_ppvl=www.shangri-la.com%2C52%2C52%2C499%2C1350%2C498%2C1350%2C615%2C1%2CL; s_ppv=www.shangri-la.com%2C48%2C48%2C498%2C1350%2C498%2C1350%2C615%2C1%2CL; s_sq=%5B%5BB%5D%5D; segmentid=segment%3DC%2Csegment%3Dtesting; aam_uuid=01107346641427687611431242460084872101; app_promotion=1"),
        ],
    },
    // single-packets.pcap
    FoxioVector {
        expected: "ge11nr06enus_8c2f9ef95269_000000000000_000000000000",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Accept", "v"),
            ("Accept-Language", "en-US,en;q=0.9"),
            ("User-Agent", "v"),
            ("Accept-Encoding", "v"),
            ("Host", "v"),
            ("Connection", "v"),
            ("Referer", "https://example.com/"),
        ],
    },
    // single-packets.pcap
    FoxioVector {
        expected: "po11cr09enus_130d8cd1913c_f81c0e5c6793_90689f748de6",
        method: "POST",
        version: HttpVersion::Http11,
        headers: &[
            ("Accept", "v"),
            ("Accept-Language", "en-US,en;q=0.9"),
            ("User-Agent", "v"),
            ("Content-Type", "v"),
            ("Accept-Encoding", "v"),
            ("Host", "v"),
            ("Content-Length", "v"),
            ("Connection", "v"),
            ("Cache-Control", "v"),
            ("Referer", "https://example.com/"),
            ("Cookie", "RT=%1%enc%3Atg%2FlU7zufFPUle8wLxga3M9JuU9Wqi9L5JCsWOqGF5aUK4qCG413AHFq%2BvIG1jhcNox8JbUSTxk%3D; ServerPool=R"),
        ],
    },
    // single-packets.pcap
    FoxioVector {
        expected: "ge11cr07enus_45c71a3fb6ea_9ee64e91aa30_109254663367",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Accept", "v"),
            ("X-Requested-With", "v"),
            ("Accept-Language", "en-US,en;q=0.9"),
            ("Accept-Encoding", "v"),
            ("User-Agent", "v"),
            ("Host", "v"),
            ("Connection", "v"),
            ("Referer", "https://example.com/"),
            ("Cookie", "CFID=77281563; CFTOKEN=64733241d30c35e0-304F31D8-AA72-F50C-3869AA2C5D0DFF17; unescomap=open; _ga=GA1.2.1751603294.1532525413; _gid=GA1.2.775336169.1532525413; _gat=1"),
        ],
    },
    // single-packets.pcap
    FoxioVector {
        expected: "ge11cr06enus_8c2f9ef95269_d23bf79698dc_69e42fa741fe",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Accept", "v"),
            ("Accept-Language", "en-US,en;q=0.9"),
            ("User-Agent", "v"),
            ("Accept-Encoding", "v"),
            ("Host", "v"),
            ("Connection", "v"),
            ("Referer", "https://example.com/"),
            ("Cookie", "visitor_id413862=286585660; visitor_id413862-hash=1f00bdb076b5fb707c70254849819ec1797d3e27cef91a61a9488cb7ca0ebf77f226caa4075591b2591bf9a1ccdf29432c67379b; pardot=tee2foreb3fefpgvk8u1056vt3"),
        ],
    },
    // ssh2.pcapng
    FoxioVector {
        expected: "ge11nn030000_9ab90a797ba7_000000000000_000000000000",
        method: "GET",
        version: HttpVersion::Http11,
        headers: &[
            ("Connection", "v"),
            ("User-Agent", "v"),
            ("Host", "v"),
        ],
    },
];
