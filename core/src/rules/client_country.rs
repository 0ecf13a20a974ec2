//! The `client_country` rule: the country the client connects from, as the edge in front
//! geolocated it (`cf-ipcountry` on Cloudflare, `cloudfront-viewer-country` on CloudFront, or
//! any header a trusted proxy sets), against the country of the number it asks an SMS for.
//! Real users mostly ask for codes to their own country's numbers from their own country;
//! proxy networks pick exit addresses anywhere. Travellers and expatriates differ too, which is
//! why the usual action is `challenge`.

/// What the header says about the client's country.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientCountry<'a> {
    /// An ISO 3166-1 alpha-2 code, as sent.
    Known(&'a str),
    /// `T1`: Cloudflare's code for a client coming through Tor.
    Tor,
    /// No header, or a value that names no country (`XX` unknown, anything not two letters).
    Unknown,
}

/// What a `client_country` rule makes of a client coming through Tor (`T1`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TorClients {
    /// A mismatch with every number's country, never spared as a proven pair: anyone can pick
    /// Tor's exits, free and by the thousand, to hide where they are, so treating it as "no
    /// country" would hand every campaign a way around the rule.
    #[default]
    Mismatch,
    /// Like a request with no country: fires only with `missing: true`.
    Missing,
}

/// Reads the first `header` (lower-case name) of the request; with `tor_header`, a client that
/// header marks `true` (Envoy's geoip filter's `anon_tor`) comes through Tor whatever `header`
/// says (the geoip filter places a Tor exit in its country).
pub fn client_country<'a>(
    headers: &[(&'a str, &'a str)],
    header: &str,
    tor_header: Option<&str>,
) -> ClientCountry<'a> {
    let first =
        |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim());
    if tor_header.and_then(first).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return ClientCountry::Tor;
    }
    let Some(value) = first(header) else {
        return ClientCountry::Unknown;
    };
    if value.eq_ignore_ascii_case("t1") {
        return ClientCountry::Tor;
    }
    let two_letters = value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphabetic());
    if !two_letters || value.eq_ignore_ascii_case("xx") {
        return ClientCountry::Unknown;
    }
    ClientCountry::Known(value)
}

/// Whether a known client country differs from the number's region (`None`: a number no
/// single region claims, such as `+882`, which never matches a client).
pub fn differs(client: &str, number_region: Option<&str>) -> bool {
    number_region.is_none_or(|region| !region.eq_ignore_ascii_case(client))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values() {
        fn read(v: &str) -> ClientCountry<'_> {
            client_country(&[("CF-IPCountry", v)], "cf-ipcountry", None)
        }
        assert_eq!(read("gb"), ClientCountry::Known("gb"));
        assert_eq!(read(" DE "), ClientCountry::Known("DE"));
        for unknown in ["XX", "", "GBR", "1A", "é"] {
            assert_eq!(read(unknown), ClientCountry::Unknown, "{unknown:?}");
        }
        assert_eq!(read("T1"), ClientCountry::Tor);
        assert_eq!(read(" t1"), ClientCountry::Tor);
        assert_eq!(client_country(&[], "cf-ipcountry", None), ClientCountry::Unknown);
    }

    #[test]
    fn a_tor_header_marks_tor_over_the_exits_country() {
        let tor = Some("x-client-tor");
        let read =
            |headers: &[(&'static str, &'static str)]| client_country(headers, "x-client-country", tor);
        assert_eq!(read(&[("x-client-country", "DE"), ("X-Client-Tor", "true")]), ClientCountry::Tor);
        assert_eq!(read(&[("x-client-tor", " TRUE ")]), ClientCountry::Tor);
        assert_eq!(
            read(&[("x-client-country", "DE"), ("x-client-tor", "false")]),
            ClientCountry::Known("DE")
        );
        assert_eq!(read(&[("x-client-country", "DE")]), ClientCountry::Known("DE"));
        // Without the setting the header means nothing.
        let headers = [("x-client-country", "DE"), ("x-client-tor", "true")];
        assert_eq!(client_country(&headers, "x-client-country", None), ClientCountry::Known("DE"));
    }

    #[test]
    fn comparison_ignores_case() {
        assert!(!differs("gb", Some("GB")));
        assert!(differs("US", Some("CA")));
        assert!(differs("US", None));
    }
}
