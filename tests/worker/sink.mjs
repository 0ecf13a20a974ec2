// A minimal origin for benchmarks: reads the body, answers 200 {"origin":"sink"}.
// Usage: node sink.mjs PORT   (prints "ready" when listening on 127.0.0.1:PORT)
import http from "node:http";

const port = Number(process.argv[2]);
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": "17" });
    res.end('{"origin":"sink"}');
  });
});
server.keepAliveTimeout = 60_000;
server.listen({ port, host: "127.0.0.1", backlog: 4096 }, () => console.log("ready"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
