//! The client's country as Cloudflare geolocated it, where `client_country` rules read it.
//!
//! Cloudflare adds `cf-ipcountry` only while the zone's IP Geolocation setting is on, but a
//! Worker always has `request.cf.country`. The adapter writes the latter into the header the
//! core judges, so the rule does not depend on a zone setting, and a client's own
//! `cf-ipcountry` never stands in for Cloudflare's.

/// The header Cloudflare names the client's country in, and the recommended policies read.
pub const COUNTRY_HEADER: &str = "cf-ipcountry";

/// Sets [`COUNTRY_HEADER`] in `headers` (lowercased names in the Fetch API's sorted order) to
/// `request.cf.country`, replacing any copy the request carries. Without a country (`wrangler dev`
/// offline, a request not from Cloudflare's edge) the headers stay as they came.
pub fn set_edge_country(headers: &mut Vec<(String, String)>, country: Option<&str>) {
    let Some(country) = country.map(str::trim).filter(|c| !c.is_empty()) else { return };
    headers.retain(|(name, _)| name != COUNTRY_HEADER);
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
    fn a_client_copy_is_replaced() {
        let mut h = headers(&[("cf-ipcountry", "US"), ("host", "a")]);
        set_edge_country(&mut h, Some("GB"));
        assert_eq!(h, headers(&[("cf-ipcountry", "GB"), ("host", "a")]));
    }

    #[test]
    fn without_a_country_the_headers_stay() {
        let mut h = headers(&[("cf-ipcountry", "US"), ("host", "a")]);
        set_edge_country(&mut h, None);
        set_edge_country(&mut h, Some("  "));
        assert_eq!(h, headers(&[("cf-ipcountry", "US"), ("host", "a")]));
    }
}
