//! The service's HTTP/1.1 server: one acceptor thread and a few worker threads, each worker an
//! event loop that reads, answers and writes its own connections itself.
//!
//! Why not a request queue in front of a thread pool: handing each request from the thread that
//! read it to the thread that answers it costs two thread wake-ups per round, a good share of the
//! fleet's latency budget. Envoy keeps its connections to the store open, so here the only
//! hand-off is once per connection, to the worker with the fewest connections. An answer needs
//! Redis, so a worker answers one request at a time: `workers` is how many rounds run at once.

pub mod message;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use message::{parse_body, parse_head, write_response, HeadParsed, Parsed, CONTINUE};
pub use message::{Head, Incoming, Outgoing};

/// Answers requests; called on worker threads.
pub trait Handler: Send + Sync {
    /// Judges a request by its head, once per request, as soon as the head is whole: before
    /// its body is read or waited for, and before `100 Continue` is sent. `Some(answer)`
    /// refuses it: that answer is sent, the body is never read and the connection closes after
    /// it. `None` (the default): its body is read and [`Handler::handle`] answers it.
    fn admit(&self, _head: &Head<'_>) -> Option<Outgoing> {
        None
    }

    /// Answers a whole request that [`Handler::admit`] let through.
    fn handle(&self, request: &Incoming<'_>) -> Outgoing;
}

/// Bounds on what a client may hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_head: usize,
    pub max_body: usize,
    /// Open connections at most; past it new ones are closed at once.
    pub max_connections: usize,
    /// An idle connection is closed after this long. Above Envoy's default upstream idle timeout
    /// (one hour), so the proxy, not the service, closes first and never sends on a closing one.
    pub idle: Duration,
    /// A request must arrive whole within this long of its first byte (slow clients).
    pub request: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 16 << 10,
            max_body: 1 << 20,
            max_connections: 4096,
            idle: Duration::from_secs(2 * 3600),
            request: Duration::from_secs(10),
        }
    }
}

/// How often loops look at the stop flag and at idle connections.
const TICK: Duration = Duration::from_millis(200);
const LISTENER: Token = Token(0);
const WAKER: Token = Token(0);

/// A bound listener, not yet serving.
pub struct Server {
    listener: StdListener,
}

impl Server {
    pub fn bind(addr: &str) -> io::Result<Server> {
        let listener = StdListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Server { listener })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves with `workers` worker threads until `stop`; connections still open then are closed.
    pub fn run(
        self,
        handler: Arc<dyn Handler>,
        workers: usize,
        limits: Limits,
        stop: &AtomicBool,
    ) -> io::Result<()> {
        let open = Arc::new(AtomicUsize::new(0));
        let mut lanes = Vec::new();
        let mut threads = Vec::new();
        let stop_workers = Arc::new(AtomicBool::new(false));
        for _ in 0..workers.max(1) {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let (tx, rx) = mpsc::channel::<StdStream>();
            let load = Arc::new(AtomicUsize::new(0));
            let worker = Worker {
                poll,
                incoming: rx,
                handler: handler.clone(),
                limits,
                load: load.clone(),
                open: open.clone(),
                conns: HashMap::new(),
                next: 1,
            };
            let stop = stop_workers.clone();
            threads.push(std::thread::spawn(move || worker.run(&stop)));
            lanes.push(Lane { tx, waker, load });
        }
        let result = accept_until(self.listener, &lanes, &open, limits, stop);
        stop_workers.store(true, Ordering::SeqCst);
        for lane in &lanes {
            let _ = lane.waker.wake();
        }
        for thread in threads {
            let _ = thread.join();
        }
        result
    }
}

/// The acceptor's way to one worker.
struct Lane {
    tx: Sender<StdStream>,
    waker: Arc<Waker>,
    /// The worker's open connections.
    load: Arc<AtomicUsize>,
}

fn accept_until(
    listener: StdListener,
    lanes: &[Lane],
    open: &AtomicUsize,
    limits: Limits,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::from_std(listener);
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(16);
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = poll.poll(&mut events, Some(TICK)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of file descriptors, a connection reset before accept: try again next tick.
                Err(_) => break,
            };
            if open.load(Ordering::SeqCst) >= limits.max_connections {
                continue; // dropped: closed at once
            }
            let Some(lane) = lanes.iter().min_by_key(|l| l.load.load(Ordering::SeqCst)) else { break };
            // mio's stream to std and back: the worker registers it with its own poll.
            let stream = StdStream::from(stream);
            open.fetch_add(1, Ordering::SeqCst);
            lane.load.fetch_add(1, Ordering::SeqCst);
            if lane.tx.send(stream).is_err() {
                open.fetch_sub(1, Ordering::SeqCst);
                lane.load.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            let _ = lane.waker.wake();
        }
    }
    Ok(())
}

/// One event loop and its connections.
struct Worker {
    poll: Poll,
    incoming: Receiver<StdStream>,
    handler: Arc<dyn Handler>,
    limits: Limits,
    load: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    conns: HashMap<usize, Conn>,
    next: usize,
}

impl Worker {
    fn run(mut self, stop: &AtomicBool) {
        let mut events = Events::with_capacity(256);
        let mut swept = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            if let Err(e) = self.poll.poll(&mut events, Some(TICK)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    self.take_new();
                    continue;
                }
                let id = event.token().0;
                let alive = match self.conns.get_mut(&id) {
                    Some(conn) => conn.on_ready(self.handler.as_ref(), self.limits),
                    None => continue,
                };
                if !alive {
                    self.close(id);
                }
            }
            if swept.elapsed() >= TICK {
                swept = Instant::now();
                let limits = self.limits;
                let stale: Vec<usize> =
                    self.conns.iter().filter(|(_, c)| c.overdue(limits)).map(|(id, _)| *id).collect();
                for id in stale {
                    self.close(id);
                }
            }
        }
        let ids: Vec<usize> = self.conns.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
    }

    fn take_new(&mut self) {
        while let Ok(stream) = self.incoming.try_recv() {
            let _ = stream.set_nodelay(true);
            let mut stream = TcpStream::from_std(stream);
            let id = self.next;
            self.next = self.next.wrapping_add(1).max(1);
            let registered = self.poll.registry().register(
                &mut stream,
                Token(id),
                Interest::READABLE | Interest::WRITABLE,
            );
            if registered.is_err() {
                self.load.fetch_sub(1, Ordering::SeqCst);
                self.open.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            let mut conn = Conn::new(stream);
            // Bytes may have arrived before registration: edge-triggered readiness would not say so.
            if conn.on_ready(self.handler.as_ref(), self.limits) {
                self.conns.insert(id, conn);
            } else {
                let _ = self.poll.registry().deregister(&mut conn.stream);
                self.load.fetch_sub(1, Ordering::SeqCst);
                self.open.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    fn close(&mut self, id: usize) {
        if let Some(mut conn) = self.conns.remove(&id) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            self.load.fetch_sub(1, Ordering::SeqCst);
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// One client connection.
struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    /// The client closed its side: answer what it sent, then close.
    peer_closed: bool,
    /// A request asked to close, or was refused: close once the answer is out.
    closing: bool,
    /// `100 Continue` already sent for the request in `input`.
    continued: bool,
    /// The handler admitted the request in `input` on its head ([`Handler::admit`]).
    admitted: bool,
    last_active: Instant,
    /// When the first byte of the unfinished request in `input` arrived.
    request_started: Option<Instant>,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            peer_closed: false,
            closing: false,
            continued: false,
            admitted: false,
            last_active: Instant::now(),
            request_started: None,
        }
    }

    /// Whether the connection has been quiet, or slow to send a request, for too long.
    fn overdue(&self, limits: Limits) -> bool {
        match self.request_started {
            Some(started) => started.elapsed() > limits.request,
            None => self.last_active.elapsed() > limits.idle,
        }
    }

    /// Reads what arrived, answers every whole request, writes what it can. False: close it.
    fn on_ready(&mut self, handler: &dyn Handler, limits: Limits) -> bool {
        self.last_active = Instant::now();
        if !self.closing && !self.read(limits) {
            return false;
        }
        if !self.closing {
            self.answer(handler, limits);
        }
        if !self.flush() {
            return false;
        }
        let drained = self.written == self.output.len();
        if drained {
            self.output.clear();
            self.written = 0;
        }
        !(drained && (self.closing || self.peer_closed))
    }

    fn read(&mut self, limits: Limits) -> bool {
        let mut chunk = [0u8; 16 << 10];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.peer_closed = true;
                    return true;
                }
                Ok(n) => {
                    if self.input.is_empty() {
                        self.request_started = Some(Instant::now());
                    }
                    self.input.extend_from_slice(&chunk[..n]);
                    // A client streaming past any request's size: parse refuses it below.
                    if self.input.len() > limits.max_head + limits.max_body {
                        return true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }

    fn answer(&mut self, handler: &dyn Handler, limits: Limits) {
        loop {
            let head = match parse_head(&self.input, limits.max_head) {
                HeadParsed::Partial => {
                    if self.input.is_empty() {
                        self.request_started = None;
                    }
                    return;
                }
                HeadParsed::Bad { status, why } => return self.refuse(&malformed(status, why)),
                HeadParsed::Whole(head) => head,
            };
            if !self.admitted {
                if let Some(refusal) = handler.admit(&head) {
                    // The body is never read: what follows the head on this connection is that
                    // body, sent or still on its way, not the start of a next request, so the
                    // connection is unusable and closes once the answer is out.
                    return self.refuse(&refusal);
                }
                self.admitted = true;
            }
            let (consumed, keep_alive) = match parse_body(&self.input, head, limits.max_body) {
                Parsed::Incomplete { expect_continue } => {
                    if expect_continue && !self.continued {
                        self.output.extend_from_slice(CONTINUE);
                        self.continued = true;
                    }
                    return;
                }
                Parsed::Bad { status, why } => return self.refuse(&malformed(status, why)),
                Parsed::Request { request, consumed, keep_alive } => {
                    let response = handler.handle(&request);
                    write_response(&mut self.output, &response, !keep_alive);
                    (consumed, keep_alive)
                }
            };
            self.input.drain(..consumed);
            self.continued = false;
            self.admitted = false;
            self.request_started = (!self.input.is_empty()).then(Instant::now);
            if !keep_alive {
                self.closing = true;
                return;
            }
        }
    }

    /// Answers `response`, drops what `input` holds unread and closes once the answer is out.
    fn refuse(&mut self, response: &Outgoing) {
        write_response(&mut self.output, response, true);
        self.input.clear();
        self.closing = true;
    }

    fn flush(&mut self) -> bool {
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return false,
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// The answer to a request the server cannot read or will not take.
fn malformed(status: u16, why: &str) -> Outgoing {
    Outgoing {
        status,
        content_type: "text/plain; charset=utf-8",
        body: format!("{why}\n"),
        headers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    struct Echo;
    impl Handler for Echo {
        fn handle(&self, request: &Incoming<'_>) -> Outgoing {
            Outgoing {
                status: 200,
                content_type: "text/plain",
                body: format!(
                    "{} {} {}",
                    request.method,
                    request.path,
                    String::from_utf8_lossy(request.body)
                ),
                headers: Vec::new(),
            }
        }
    }

    /// Echo behind a credential: `POST /checks` needs `authorization: Bearer right`.
    #[derive(Default)]
    struct Guard {
        /// Heads of `POST /checks` judged.
        judged: AtomicUsize,
        refused: AtomicUsize,
    }

    impl Handler for Guard {
        fn admit(&self, head: &Head<'_>) -> Option<Outgoing> {
            if (head.method, head.path) != ("POST", "/checks") {
                return None;
            }
            self.judged.fetch_add(1, Ordering::SeqCst);
            if head.authorization == Some(&b"Bearer right"[..]) {
                return None;
            }
            self.refused.fetch_add(1, Ordering::SeqCst);
            Some(Outgoing {
                status: 401,
                content_type: "application/json",
                body: r#"{"refused":"no bearer token"}"#.to_owned(),
                headers: vec![("www-authenticate", "Bearer")],
            })
        }

        fn handle(&self, request: &Incoming<'_>) -> Outgoing {
            Echo.handle(request)
        }
    }

    fn serve(limits: Limits) -> (SocketAddr, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
        serve_with(Arc::new(Echo), limits)
    }

    fn serve_with(
        handler: Arc<dyn Handler>,
        limits: Limits,
    ) -> (SocketAddr, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
        let server = Server::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || server.run(handler, 2, limits, &flag).unwrap());
        (addr, stop, thread)
    }

    /// A connection whose reads give up after 5 s (a test that would hang fails instead).
    fn connect(addr: SocketAddr) -> (StdStream, BufReader<StdStream>) {
        let stream = StdStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        (stream, reader)
    }

    /// Reads one response: status line and body (by content-length).
    fn response(reader: &mut BufReader<StdStream>) -> (String, String) {
        let (status, _, body) = response_and_headers(reader);
        (status, body)
    }

    /// Reads one response: status line, header lines (lowercase) and body (by content-length).
    fn response_and_headers(reader: &mut BufReader<StdStream>) -> (String, Vec<String>, String) {
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut length = 0;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            let line = line.trim().to_ascii_lowercase();
            if let Some(v) = line.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            headers.push(line);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        (status.trim().to_owned(), headers, String::from_utf8(body).unwrap())
    }

    /// Whether the server closed the connection (nothing more comes, and no timeout).
    fn closed(reader: &mut BufReader<StdStream>) -> bool {
        let mut rest = Vec::new();
        matches!(reader.read_to_end(&mut rest), Ok(0))
    }

    #[test]
    fn keep_alive_requests_in_pieces_and_pipelined() {
        let (addr, stop, thread) = serve(Limits::default());
        let mut stream = StdStream::connect(addr).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        // One request in three writes, the body after a 100 Continue.
        stream.write_all(b"POST /checks HTTP/1.1\r\ncontent-length: 5\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        stream.write_all(b"expect: 100-continue\r\n\r\n").unwrap();
        let mut interim = String::new();
        reader.read_line(&mut interim).unwrap();
        assert_eq!(interim, "HTTP/1.1 100 Continue\r\n");
        reader.read_line(&mut interim).unwrap();
        stream.write_all(b"hello").unwrap();
        assert_eq!(response(&mut reader), ("HTTP/1.1 200 OK".to_owned(), "POST /checks hello".to_owned()));
        // Two requests in one write, on the same connection.
        stream.write_all(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(response(&mut reader).1, "GET /a ");
        assert_eq!(response(&mut reader).1, "GET /b ");
        stop.store(true, Ordering::SeqCst);
        thread.join().unwrap();
    }

    #[test]
    fn bad_requests_are_answered_then_closed() {
        let (addr, stop, thread) = serve(Limits::default());
        let mut stream = StdStream::connect(addr).unwrap();
        stream.write_all(b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n").unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let (status, body) = response(&mut reader);
        assert_eq!(status, "HTTP/1.1 411 Length Required");
        assert!(body.contains("content-length"));
        let mut rest = Vec::new();
        assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0, "closed after the error");
        stop.store(true, Ordering::SeqCst);
        thread.join().unwrap();
    }

    #[test]
    fn slow_requests_and_extra_connections_are_closed() {
        let limits = Limits { max_connections: 1, request: Duration::from_millis(300), ..Limits::default() };
        let (addr, stop, thread) = serve(limits);
        let mut slow = StdStream::connect(addr).unwrap();
        slow.write_all(b"GET / HTT").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // Over max_connections: closed without an answer.
        let mut extra = StdStream::connect(addr).unwrap();
        extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        assert_eq!(extra.read_to_end(&mut buf).map(|_| buf.len()).unwrap_or(0), 0);
        // The unfinished request is dropped after `request`.
        slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        let _ = slow.read_to_end(&mut rest);
        assert!(rest.is_empty() && started.elapsed() < Duration::from_secs(4));
        stop.store(true, Ordering::SeqCst);
        thread.join().unwrap();
    }

    #[test]
    fn a_refused_head_is_answered_at_once_and_closed_without_its_body() {
        let guard = Arc::new(Guard::default());
        let (addr, stop, thread) = serve_with(guard.clone(), Limits::default());
        // Declared bodies larger than what is sent, even than `max_body` (1 MiB): the refusal
        // comes without any of it, and before the 413 a body that large would get.
        let heads = [
            "POST /checks HTTP/1.1\r\ncontent-length: 10000000\r\n\r\n",
            "POST /checks HTTP/1.1\r\nauthorization: Bearer wrong\r\ncontent-length: 1000000\r\n\r\n",
            "POST /checks HTTP/1.1\r\nauthorization: Bearer wrong\r\ncontent-length: 1000\r\n\r\n{\"par",
        ];
        for (i, head) in heads.into_iter().enumerate() {
            let (mut stream, mut reader) = connect(addr);
            stream.write_all(head.as_bytes()).unwrap();
            let (status, headers, body) = response_and_headers(&mut reader);
            assert_eq!(status, "HTTP/1.1 401 Unauthorized", "{head}");
            assert!(headers.iter().any(|h| h == "www-authenticate: bearer"), "{headers:?}");
            assert!(headers.iter().any(|h| h == "connection: close"), "{headers:?}");
            assert_eq!(body, r#"{"refused":"no bearer token"}"#);
            assert!(closed(&mut reader), "{head}: closed after the refusal");
            assert_eq!(guard.refused.load(Ordering::SeqCst), i + 1, "each refusal judged once");
        }
        // Paths that ask for no credential are untouched.
        let (mut stream, mut reader) = connect(addr);
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n\r\nPOST /other HTTP/1.1\r\ncontent-length: 2\r\n\r\nhi")
            .unwrap();
        assert_eq!(response(&mut reader), ("HTTP/1.1 200 OK".to_owned(), "GET /healthz ".to_owned()));
        assert_eq!(response(&mut reader), ("HTTP/1.1 200 OK".to_owned(), "POST /other hi".to_owned()));
        assert_eq!(guard.judged.load(Ordering::SeqCst), 3);
        stop.store(true, Ordering::SeqCst);
        thread.join().unwrap();
    }

    #[test]
    fn an_admitted_head_gets_its_body_read_and_judged_once() {
        let guard = Arc::new(Guard::default());
        let (addr, stop, thread) = serve_with(guard.clone(), Limits::default());
        let (mut stream, mut reader) = connect(addr);
        // The body in two writes after the head: the head is judged once, not on every read.
        stream
            .write_all(b"POST /checks HTTP/1.1\r\nauthorization: Bearer right\r\ncontent-length: 5\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        stream.write_all(b"he").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        stream.write_all(b"llo").unwrap();
        assert_eq!(response(&mut reader), ("HTTP/1.1 200 OK".to_owned(), "POST /checks hello".to_owned()));
        assert_eq!(guard.judged.load(Ordering::SeqCst), 1);
        // Kept alive: the next request is judged on its own head.
        stream
            .write_all(b"POST /checks HTTP/1.1\r\nauthorization: Bearer right\r\ncontent-length: 2\r\n\r\nok")
            .unwrap();
        assert_eq!(response(&mut reader).1, "POST /checks ok");
        assert_eq!(guard.judged.load(Ordering::SeqCst), 2);
        // Admitted, a body over `max_body` is still refused for its size.
        stream
            .write_all(
                b"POST /checks HTTP/1.1\r\nauthorization: Bearer right\r\ncontent-length: 10000000\r\n\r\n",
            )
            .unwrap();
        assert_eq!(response(&mut reader).0, "HTTP/1.1 413 Content Too Large");
        assert!(closed(&mut reader));
        assert_eq!(guard.refused.load(Ordering::SeqCst), 0);
        stop.store(true, Ordering::SeqCst);
        thread.join().unwrap();
    }

    #[test]
    fn expect_continue_gets_the_refusal_instead_of_100() {
        let guard = Arc::new(Guard::default());
        let (addr, stop, thread) = serve_with(guard.clone(), Limits::default());
        let (mut stream, mut reader) = connect(addr);
        stream
            .write_all(b"POST /checks HTTP/1.1\r\nauthorization: Bearer wrong\r\ncontent-length: 1000\r\nexpect: 100-continue\r\n\r\n")
            .unwrap();
        assert_eq!(response(&mut reader).0, "HTTP/1.1 401 Unauthorized", "no 100 Continue first");
        assert!(closed(&mut reader));
        // With the right token the 100 comes, then the answer.
        let (mut stream, mut reader) = connect(addr);
        stream
            .write_all(b"POST /checks HTTP/1.1\r\nauthorization: Bearer right\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\n")
            .unwrap();
        assert_eq!(response(&mut reader).0, "HTTP/1.1 100 Continue");
        stream.write_all(b"ok").unwrap();
        assert_eq!(response(&mut reader), ("HTTP/1.1 200 OK".to_owned(), "POST /checks ok".to_owned()));
        assert_eq!(guard.refused.load(Ordering::SeqCst), 1);
        stop.store(true, Ordering::SeqCst);
        thread.join().unwrap();
    }
}
