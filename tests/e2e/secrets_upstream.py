#!/usr/bin/env python3
"""The secrets tests' upstream servers: HTTPS and plain HTTP listeners that
write down every request whole and can echo it back.

usage: secrets_upstream.py LOG SPEC...
  SPEC is ADDR:PORT:CERT:KEY for HTTPS or ADDR:PORT for plain HTTP.

Each request appends one JSON line to LOG: {"scheme", "at", "method", "path",
"headers": [[name, value], ...], "body"}; "ready" is written once every
socket listens. Paths:
  /echo...         200, text/plain: every request header as "Name: value" lines, then the body
  /json...         the same as JSON (application/json)
  /bin...          the same as application/octet-stream
  /drip...         the Authorization header's value sent back one byte per chunk
  /redirect?to=U   302 to U, with the Authorization value in a header and the Location's query
  anything else    200 "ok"
"""
import json
import ssl
import sys
import time
from urllib.parse import parse_qs, quote, urlsplit

from listeners import HTTPServer, QuietHandler, note, serve


class Handler(QuietHandler):
    def reply(self, status, ctype, data, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        addr, port = self.server.server_address[:2]
        body = self.read_body()
        headers = [[k, v] for k, v in self.headers.items()]
        note(json.dumps({"scheme": self.server.scheme, "at": f"{addr}:{port}",
                         "method": self.command, "path": self.path, "headers": headers,
                         "body": body.decode("latin-1")}))
        path = urlsplit(self.path).path
        auth = self.headers.get("Authorization", "")
        echo = "".join(f"{k}: {v}\n" for k, v in headers).encode() + body
        if path.startswith("/echo"):
            self.reply(200, "text/plain; charset=utf-8", echo)
        elif path.startswith("/json"):
            self.reply(200, "application/json",
                       json.dumps({"headers": headers, "body": body.decode()}).encode())
        elif path.startswith("/bin"):
            self.reply(200, "application/octet-stream", echo)
        elif path.startswith("/drip"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for ch in ("auth=" + auth + "\n").encode():
                self.wfile.write(b"1\r\n" + bytes([ch]) + b"\r\n")
                self.wfile.flush()
                time.sleep(0.002)
            self.wfile.write(b"0\r\n\r\n")
        elif path.startswith("/redirect"):
            to = parse_qs(urlsplit(self.path).query).get("to", ["/"])[0]
            sep = "&" if "?" in to else "?"
            self.reply(302, "text/plain", b"moved\n",
                       [("Location", to + sep + "k=" + quote(auth)), ("X-Seen-Auth", auth)])
        else:
            self.reply(200, "text/plain", b"ok\n")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = handle_any


class Server(HTTPServer):
    def __init__(self, where, ctx):
        super().__init__(where, Handler, ctx)
        self.scheme = "https" if ctx else "http"

    def handle_error(self, request, client_address):
        note(json.dumps({"error": f"{self.server_address[0]}:{self.server_address[1]}"}))


def main():
    servers = []
    for spec in sys.argv[2:]:
        parts = spec.split(":")
        ctx = None
        if len(parts) == 4:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(parts[2], parts[3])
        servers.append(Server((parts[0], int(parts[1])), ctx))
    serve(servers)


main()
