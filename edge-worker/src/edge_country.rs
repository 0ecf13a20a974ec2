//! The client's country, where `client_country` rules on Cloudflare read it.
//!
//! Cloudflare adds `cf-ipcountry` only while the zone's IP Geolocation setting is on, and with it
//! off passes a client's own `cf-ipcountry` through: a bot would name its number's country. A
//! Worker always has `request.cf.country`, so the adapter hands the core that country as
//! `cf-ipcountry` and nothing else (or the value of a trusted header, when one is configured).

/// The header Cloudflare names the client's country in, and the recommended policies read.
pub const COUNTRY_HEADER: &str = "cf-ipcountry";

/// Makes [`COUNTRY_HEADER`] in `headers` (lowercased names in the Fetch API's sorted order) carry
/// `country` alone: any copy the request brought is dropped, and without a country none is left.
pub fn set_edge_country(headers: &mut Vec<(String, String)>, country: Option<&str>) {
    headers.retain(|(name, _)| name != COUNTRY_HEADER);
    let Some(country) = country.map(str::trim).filter(|c| !c.is_empty()) else { return };
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
    fn the_country_is_added_in_sorted_place() {
        let mut h = headers(&[("accept", "*/*"), ("cf-connecting-ip", "192.0.2.1"), ("host", "a")]);
        set_edge_country(&mut h, Some("GB"));
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
    fn a_copy_the_request_brought_is_replaced() {
        let mut h = headers(&[("cf-ipcountry", "US"), ("host", "a")]);
        set_edge_country(&mut h, Some("GB"));
        assert_eq!(h, headers(&[("cf-ipcountry", "GB"), ("host", "a")]));
    }

    #[test]
    fn without_a_country_no_copy_is_left() {
        for country in [None, Some("  ")] {
            let mut h = headers(&[("cf-ipcountry", "US"), ("host", "a")]);
            set_edge_country(&mut h, country);
            assert_eq!(h, headers(&[("host", "a")]));
        }
    }
}
