//! The client's country as Cloudflare geolocated it, where `client_country` rules read it.
//!
//! Cloudflare adds `cf-ipcountry` only while the zone's IP Geolocation setting is on, but a
//! Worker always has `request.cf.country`. Where the header is absent the adapter writes the
//! latter in, so a rule reading the header does not fall silent with the setting off. A header
//! the request carries is left as it is: on Cloudflare it is Cloudflare's own, and a test harness
//! or `wrangler dev` (whose `request.cf` is a placeholder) sets it on purpose.

/// The header Cloudflare names the client's country in, and the recommended policies read.
pub const COUNTRY_HEADER: &str = "cf-ipcountry";

/// Adds [`COUNTRY_HEADER`] with `request.cf.country` to `headers` (lowercased names in the
/// Fetch API's sorted order) when the request has none. Without a country the headers stay as
/// they came.
pub fn add_edge_country(headers: &mut Vec<(String, String)>, country: Option<&str>) {
    let Some(country) = country.map(str::trim).filter(|c| !c.is_empty()) else { return };
    if headers.iter().any(|(name, _)| name == COUNTRY_HEADER) {
        return;
    }
    let at = headers.partition_point(|(name, _)| name.as_str() < COUNTRY_HEADER);
    headers.insert(at, (COUNTRY_HEADER.to_owned(), country.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_edge_country_is_added_in_sorted_place() {
        let mut h = headers(&[("accept", "*/*"), ("cf-connecting-ip", "192.0.2.1"), ("host", "a")]);
        add_edge_country(&mut h, Some("GB"));
        assert_eq!(
            h,
            headers(&[
                ("accept", "*/*"),
                ("cf-connecting-ip", "192.0.2.1"),
                ("cf-ipcountry", "GB"),
                ("host", "a")
            ])
        );
    }

    #[test]
    fn a_header_the_request_carries_is_kept() {
        let mut h = headers(&[("cf-ipcountry", "US"), ("host", "a")]);
        add_edge_country(&mut h, Some("GB"));
        assert_eq!(h, headers(&[("cf-ipcountry", "US"), ("host", "a")]));
    }

    #[test]
    fn without_a_country_the_headers_stay() {
        let mut h = headers(&[("host", "a")]);
        add_edge_country(&mut h, None);
        add_edge_country(&mut h, Some("  "));
        assert_eq!(h, headers(&[("host", "a")]));
    }
}
