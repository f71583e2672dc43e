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

from listeners import HTTPServer, QuietHandler, note, serve


class Handler(QuietHandler):
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


class Server(HTTPServer):
    def handle_error(self, request, client_address):
        note(f"tls-error {self.server_address[0]}:{self.server_address[1]}")


def main():
    servers = []
    for spec in sys.argv[2:]:
        addr, port, cert, key = spec.split(":")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.sni_callback = remember_sni
        servers.append(Server((addr, int(port)), Handler, ctx))
    serve(servers)


main()
