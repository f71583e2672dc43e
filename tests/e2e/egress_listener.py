#!/usr/bin/env python3
"""The egress test's "internet": listeners that write down everything that reaches them.

usage: egress_listener.py LOG SPEC...
  SPEC is http:ADDR:PORT, tcp:ADDR:PORT or udp:ADDR:PORT.

Each connection, request or datagram appends one line to LOG:
  http ADDR:PORT METHOD PATH    tcp ADDR:PORT    udp ADDR:PORT
and "ready" is written once every socket listens. The HTTP listeners
answer under /v1/ (see Handler); everything else gets 404.
"""
import hashlib
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = open(sys.argv[1], "a", buffering=1)
LOCK = threading.Lock()
BIG = 5_000_000


def note(line):
    with LOCK:
        LOG.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def where(self):
        addr, port = self.server.server_address[:2]
        return f"{addr}:{port}"

    def reply(self, code, body, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def handle_any(self):
        note(f"http {self.where()} {self.command} {self.path}")
        body = self.read_body()
        path = self.path
        if path == "/v1/x/big":
            self.reply(200, b"x" * BIG)
        elif path == "/v1/x/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"one,", b"two,", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/v1/x/close":
            # No length, no chunking: the body ends when the connection does.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until-close")
            self.close_connection = True
        elif path.startswith("/v1/echo"):
            digest = hashlib.md5(body).hexdigest()
            self.reply(200, f"{len(body)} {digest}".encode())
        elif path.startswith("/v1/") or path.startswith("/tun"):
            text = f"hello {path} from {self.where()} host={self.headers.get('Host')}\n"
            self.reply(200, text.encode(), [("X-Test", "yes"), ("Connection", "keep-alive")])
        else:
            self.reply(404, b"not here\n")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class RawTCP(socketserver.BaseRequestHandler):
    def handle(self):
        addr, port = self.server.server_address[:2]
        note(f"tcp {addr}:{port}")


class RawUDP(socketserver.BaseRequestHandler):
    def handle(self):
        addr, port = self.server.server_address[:2]
        note(f"udp {addr}:{port}")


class TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    servers = []
    for spec in sys.argv[2:]:
        kind, addr, port = spec.split(":")
        where = (addr, int(port))
        if kind == "http":
            servers.append(Server(where, Handler))
        elif kind == "tcp":
            servers.append(TCPServer(where, RawTCP))
        else:
            servers.append(socketserver.UDPServer(where, RawUDP))
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    note("ready")
    threading.Event().wait()


main()
