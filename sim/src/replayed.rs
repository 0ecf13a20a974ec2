//! Recorded traffic as a [`Run`] without ground truth, so `pumpguard replay --report` draws the
//! same page from what a policy decided on real captures.

use pumpguard_core::config::RouteKind;
use pumpguard_core::scenario::Observed;
use pumpguard_core::traffic::TrafficRecord;
use pumpguard_core::Decision;

use crate::mix::Mix;
use crate::sim::{Kind, Run, Sent, Truth};

/// Client family from a user agent, for the report's fingerprint table.
pub fn client_family(user_agent: &str) -> &'static str {
    let ua = user_agent.to_ascii_lowercase();
    let families: [(&str, &str); 12] = [
        ("headlesschrome", "headless_chrome"),
        ("python-requests", "python_requests"),
        ("go-http-client", "go_http"),
        ("axios", "node_axios"),
        ("okhttp", "android_app"),
        ("cfnetwork", "ios_app"),
        ("curl/", "curl"),
        ("firefox/", "firefox"),
        ("edg/", "edge"),
        ("android", "chrome_android"),
        ("chrome/", "chrome_desktop"),
        ("safari/", "safari"),
    ];
    families.iter().find(|(needle, _)| ua.contains(needle)).map_or("other", |(_, family)| family)
}

/// A run of recorded requests and the decisions they got, in order. Requests no route guards
/// are left out; the period spans the first to the last record.
pub fn run_of(judged: Vec<(TrafficRecord, Decision)>) -> Run {
    let first = judged.iter().map(|(r, _)| r.at_ms).min().unwrap_or(0);
    let last = judged.iter().map(|(r, _)| r.at_ms).max().unwrap_or(first);
    let mix = Mix {
        start_ms: first - first % 60_000,
        hours: ((last - first + 60_000) as f64 / 3_600_000.0).max(1.0 / 60.0),
        campaigns: Vec::new(),
        ..Mix::default()
    };
    let mut sent = Vec::new();
    let mut records = Vec::new();
    for (record, decision) in judged {
        let Some(route) = &decision.route else { continue };
        let number = decision.numbers.first();
        let user_agent = record
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
            .map(|(_, v)| v.as_str());
        sent.push(Sent {
            at_ms: record.at_ms,
            truth: Truth::Unlabelled,
            kind: if route.kind == RouteKind::Confirm { Kind::Confirm } else { Kind::Send },
            number: number.map(|n| n.e164.clone()).unwrap_or_default(),
            country: number.and_then(|n| n.region),
            client: user_agent.map_or("none", client_family),
            ja4: record.tls.as_ref().and_then(|t| t.ja4.clone()),
            ip: record.client_ip.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
            verdict: Observed::of(&decision),
            retry_of: None,
        });
        records.push(record);
    }
    Run { mix, seed: 0, sent, records, users: Vec::new(), number_lookups: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_from_user_agents() {
        assert_eq!(client_family("python-requests/2.32.3"), "python_requests");
        assert_eq!(
            client_family("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Mobile Safari/537.36"),
            "chrome_android"
        );
        assert_eq!(client_family("okhttp/4.12.0"), "android_app");
        assert_eq!(client_family("Mozilla/5.0"), "other");
    }
}
