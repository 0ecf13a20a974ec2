//! A small Redis client: RESP2 over one TCP connection, commands pipelined (all written, then all
//! answers read), every read and write bounded by a timeout. Enough for GET, EVALSHA, SCRIPT
//! LOAD, AUTH, PING and INFO; Valkey speaks the same protocol.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Longest bulk string or array accepted from the server: counters are tens of bytes, so a
/// larger length is a protocol error, never an allocation.
const MAX_BULK: usize = 64 * 1024 * 1024;
const MAX_ARRAY: usize = 1 << 20;

/// One answer of the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK` and other simple strings.
    Status(String),
    /// `-ERR ...`: the command failed; the connection is still usable.
    Error(String),
    /// `:n`.
    Int(i64),
    /// `$n` bytes, or `$-1` (nil).
    Bulk(Option<Vec<u8>>),
    /// `*n` replies, or `*-1` (nil).
    Array(Option<Vec<Reply>>),
}

/// One connection.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

fn protocol(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("redis protocol: {what}"))
}

impl Conn {
    /// Connects to `addr` (`host:port`, names resolved), with `timeout` for the connect and every
    /// later read and write.
    pub fn connect(addr: &str, timeout: Duration) -> io::Result<Conn> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{addr}: no address"));
        for resolved in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&resolved, timeout) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(timeout))?;
                    stream.set_write_timeout(Some(timeout))?;
                    stream.set_nodelay(true)?;
                    let writer = stream.try_clone()?;
                    return Ok(Conn { reader: BufReader::new(stream), writer });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Sends every command, then reads one reply per command, in order. An I/O or protocol
    /// error leaves the connection unusable: drop it.
    pub fn pipeline(&mut self, commands: &[Vec<&[u8]>]) -> io::Result<Vec<Reply>> {
        let mut out = Vec::with_capacity(
            commands.iter().map(|c| 16 + c.iter().map(|a| a.len() + 16).sum::<usize>()).sum(),
        );
        for command in commands {
            encode(&mut out, command);
        }
        self.writer.write_all(&out)?;
        commands.iter().map(|_| read_reply(&mut self.reader, 0)).collect()
    }

    /// One command.
    pub fn call(&mut self, command: &[&[u8]]) -> io::Result<Reply> {
        let mut replies = self.pipeline(&[command.to_vec()])?;
        replies.pop().ok_or_else(|| protocol("no reply"))
    }
}

/// A command as a RESP array of bulk strings.
pub fn encode(out: &mut Vec<u8>, command: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", command.len()).as_bytes());
    for arg in command {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader.take(64 * 1024).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(protocol("line not terminated (connection closed?)"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| protocol("line is not UTF-8"))
}

fn length(text: &str, max: usize) -> io::Result<Option<usize>> {
    let n: i64 = text.parse().map_err(|_| protocol("bad length"))?;
    if n < 0 {
        return Ok(None);
    }
    let n = usize::try_from(n).map_err(|_| protocol("bad length"))?;
    if n > max {
        return Err(protocol("length over the limit"));
    }
    Ok(Some(n))
}

/// Reads one reply (nested arrays up to a small depth).
pub fn read_reply(reader: &mut impl BufRead, depth: u8) -> io::Result<Reply> {
    if depth > 4 {
        return Err(protocol("arrays nested too deep"));
    }
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at_checked(1).ok_or_else(|| protocol("empty line"))?;
    match kind {
        "+" => Ok(Reply::Status(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => rest.parse().map(Reply::Int).map_err(|_| protocol("bad integer")),
        "$" => match length(rest, MAX_BULK)? {
            None => Ok(Reply::Bulk(None)),
            Some(n) => {
                let mut data = vec![0u8; n + 2];
                reader.read_exact(&mut data)?;
                if data.get(n..) != Some(b"\r\n".as_slice()) {
                    return Err(protocol("bulk string not terminated"));
                }
                data.truncate(n);
                Ok(Reply::Bulk(Some(data)))
            }
        },
        "*" => match length(rest, MAX_ARRAY)? {
            None => Ok(Reply::Array(None)),
            Some(n) => (0..n)
                .map(|_| read_reply(reader, depth + 1))
                .collect::<io::Result<_>>()
                .map(|v| Reply::Array(Some(v))),
        },
        _ => Err(protocol("unknown reply type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> io::Result<Reply> {
        read_reply(&mut BufReader::new(bytes), 0)
    }

    #[test]
    fn encodes_binary_safe_commands() {
        let mut out = Vec::new();
        encode(&mut out, &[b"SET", b"k", b"a\r\nb"]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n");
    }

    #[test]
    fn reads_every_reply_type() {
        assert_eq!(parse(b"+OK\r\n").unwrap(), Reply::Status("OK".into()));
        assert_eq!(parse(b"-NOSCRIPT x\r\n").unwrap(), Reply::Error("NOSCRIPT x".into()));
        assert_eq!(parse(b":42\r\n").unwrap(), Reply::Int(42));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Reply::Bulk(None));
        assert_eq!(parse(b"$4\r\na\r\nb\r\n").unwrap(), Reply::Bulk(Some(b"a\r\nb".to_vec())));
        assert_eq!(
            parse(b"*2\r\n$1\r\na\r\n:1\r\n").unwrap(),
            Reply::Array(Some(vec![Reply::Bulk(Some(b"a".to_vec())), Reply::Int(1)]))
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"?x\r\n",
            b"$5\r\nab\r\n",
            b"$3\r\nabcd\r\n",
            b":x\r\n",
            b"$99999999999\r\n",
            b"*9999999999\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
            b"+no end",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
