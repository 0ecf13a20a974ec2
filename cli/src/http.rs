//! A minimal HTTP/1.1 client over one TCP connection per request: enough to replay traffic
//! records byte for byte (header order and case kept, body as recorded) against a local host.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Where requests go: `http://HOST:PORT` (no path, no TLS).
#[derive(Clone, Debug)]
pub struct Target {
    addr: SocketAddr,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// targets"))?;
        let authority = rest.trim_end_matches('/');
        if authority.contains('/') {
            return Err(format!("{url}: a target is scheme, host and port, without a path"));
        }
        let addr = authority
            .to_socket_addrs()
            .map_err(|e| format!("{url}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url}: no address"))?;
        Ok(Target { addr })
    }
}

/// An HTTP response with its headers (names lower-cased) in order.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Sends one request and reads the whole response. `headers` are written as given; a
/// `content-length` is added when neither it nor `transfer-encoding` is among them.
pub fn send(
    target: &Target,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, String> {
    let mut stream = TcpStream::connect_timeout(&target.addr, timeout)
        .map_err(|e| format!("connect {}: {e}", target.addr))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked"));
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has("content-length") && !has("transfer-encoding") {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if chunked {
        if !body.is_empty() {
            out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else {
        out.extend_from_slice(body);
    }
    stream.write_all(&out).map_err(|e| format!("send: {e}"))?;
    read_response(&mut BufReader::new(stream), method == "HEAD")
}

fn read_line(reader: &mut impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| format!("read: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn read_response(reader: &mut impl BufRead, head_only: bool) -> Result<Response, String> {
    let status_line = read_line(reader)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP response: {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let response = Response { status, headers, body: Vec::new() };
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(response);
    }
    let body = if response.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(reader)?
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length.parse().map_err(|_| format!("bad content-length {length:?}"))?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(|e| format!("read body: {e}"))?;
        body
    } else {
        let mut body = Vec::new();
        reader.read_to_end(&mut body).map_err(|e| format!("read body: {e}"))?;
        body
    };
    Ok(Response { body, ..response })
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size {line:?}"))?;
        if size == 0 {
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).map_err(|e| format!("read chunk: {e}"))?;
        read_line(reader)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chunked_and_sized_bodies() {
        let raw = b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = read_response(&mut &raw[..], false).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (429, &b"abcde"[..]));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA";
        let r = read_response(&mut &raw[..], false).unwrap();
        assert_eq!(r.body, b"ok");
    }

    #[test]
    fn targets_are_host_and_port_only() {
        assert!(Target::parse("http://127.0.0.1:8080").is_ok());
        assert!(Target::parse("http://127.0.0.1:8080/").is_ok());
        assert!(Target::parse("http://127.0.0.1:8080/x").is_err());
        assert!(Target::parse("https://127.0.0.1:8080").is_err());
    }
}
