#!/usr/bin/env python3
"""The HTTPS test's upstream servers: TLS listeners that write down every request.

usage: https_upstream.py LOG ADDR:PORT:CERT:KEY...

Each request appends one line to LOG:
  https ADDR:PORT METHOD PATH host=HOST sni=SNI
and "ready" is written once every socket listens. Every path gets 200 and
the text "hello PATH from ADDR:PORT host=HOST sni=SNI"; a request body is
read and its length reported as "body=N".
"""
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = open(sys.argv[1], "a", buffering=1)
LOCK = threading.Lock()


def note(line):
    with LOCK:
        LOG.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        addr, port = self.server.server_address[:2]
        sni = getattr(self.connection, "sni", None)
        host = self.headers.get("Host")
        note(f"https {addr}:{port} {self.command} {self.path} host={host} sni={sni}")
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if n else b""
        text = f"hello {self.path} from {addr}:{port} host={host} sni={sni}"
        if body:
            text += f" body={len(body)}"
        data = (text + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = handle_any


def remember_sni(sock, name, ctx):
    sock.sni = name


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, where, ctx):
        super().__init__(where, Handler)
        self.ctx = ctx

    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake happens on the first read, in the request's thread.
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        note(f"tls-error {self.server_address[0]}:{self.server_address[1]}")


def main():
    servers = []
    for spec in sys.argv[2:]:
        addr, port, cert, key = spec.split(":")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.sni_callback = remember_sni
        servers.append(Server((addr, int(port)), ctx))
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    note("ready")
    threading.Event().wait()


main()
