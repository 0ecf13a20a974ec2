//! A compact text form of a request sequence, so libFuzzer mutates requests as text and seeds
//! come straight from the scenario corpus.
//!
//! ```text
//! POST /api/otp 198.51.100.7        request line: method, path with query, optional client IP
//! content-type: application/json    headers, one per line
//!                                   blank line
//! {"phone":"+2348031234567"}        body: every byte up to the next separator
//! ~~~ 1500                          separator: the next request comes 1500 ms later
//! ```

use std::net::IpAddr;

use pumpguard_core::traffic::TrafficRecord;

const SEPARATOR: &[u8] = b"\n~~~";

/// One request of a sequence.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    /// Milliseconds after the previous request.
    pub advance_ms: u64,
    /// Method as written.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Client address, when the request line names a parseable one.
    pub client_ip: Option<IpAddr>,
    /// Headers in order, names as written.
    pub headers: Vec<(String, String)>,
    /// The body, raw.
    pub body: Vec<u8>,
}

/// Parses a sequence; never fails (whatever does not parse is left empty), at most `max` frames.
pub fn parse(data: &[u8], max: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut rest = data;
    let mut advance_ms = 0;
    while frames.len() < max {
        let (chunk, next) = match find(rest, SEPARATOR) {
            Some(at) => (&rest[..at], Some(&rest[at + SEPARATOR.len()..])),
            None => (rest, None),
        };
        frames.push(parse_one(chunk, advance_ms));
        let Some(next) = next else { break };
        let (line, after) = split_line(next);
        advance_ms = String::from_utf8_lossy(line).trim().parse::<u64>().unwrap_or(0).min(1 << 40);
        rest = after;
    }
    frames
}

fn parse_one(chunk: &[u8], advance_ms: u64) -> Frame {
    let mut frame = Frame { advance_ms, ..Frame::default() };
    let (line, mut rest) = split_line(chunk);
    let line = String::from_utf8_lossy(line);
    let mut words = line.split(' ');
    frame.method = words.next().unwrap_or_default().to_owned();
    frame.path = words.next().unwrap_or_default().to_owned();
    frame.client_ip = words.next().and_then(|ip| ip.parse().ok());
    loop {
        if rest.is_empty() {
            break;
        }
        let (line, after) = split_line(rest);
        rest = after;
        if line.is_empty() {
            frame.body = rest.to_vec();
            break;
        }
        let line = String::from_utf8_lossy(line);
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        frame.headers.push((name.trim().to_owned(), value.trim_start().to_owned()));
    }
    frame
}

/// Writes a sequence back in the form [`parse`] reads.
pub fn render(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(SEPARATOR);
            out.extend_from_slice(format!(" {}\n", frame.advance_ms).as_bytes());
        }
        out.extend_from_slice(frame.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(frame.path.as_bytes());
        if let Some(ip) = frame.client_ip {
            out.extend_from_slice(format!(" {ip}").as_bytes());
        }
        out.push(b'\n');
        for (name, value) in &frame.headers {
            out.extend_from_slice(format!("{name}: {value}\n").as_bytes());
        }
        out.push(b'\n');
        out.extend_from_slice(&frame.body);
    }
    out
}

/// The frames of recorded requests (their timing kept as advances).
pub fn from_records(records: &[TrafficRecord]) -> Vec<Frame> {
    let mut last = records.first().map_or(0, |r| r.at_ms);
    records
        .iter()
        .filter_map(|record| {
            let owned = record.owned().ok()?;
            let frame = Frame {
                advance_ms: record.at_ms.saturating_sub(last),
                method: record.method.clone(),
                path: record.path.clone(),
                client_ip: record.client_ip,
                headers: owned.headers,
                body: owned.body,
            };
            last = record.at_ms;
            Some(frame)
        })
        .collect()
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_then_parse_keeps_the_frames() {
        let frames = vec![
            Frame {
                advance_ms: 0,
                method: "POST".into(),
                path: "/api/otp?x=1".into(),
                client_ip: "198.51.100.7".parse().ok(),
                headers: vec![("content-type".into(), "application/json".into())],
                body: b"{\"phone\":\"+2348031234567\"}\n\nmore".to_vec(),
            },
            Frame { advance_ms: 1500, method: "GET".into(), path: "/".into(), ..Frame::default() },
        ];
        assert_eq!(parse(&render(&frames), 8), frames);
    }
}
