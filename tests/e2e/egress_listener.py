#!/usr/bin/env python3
"""The egress test's "internet": listeners that write down everything that reaches them.

usage: egress_listener.py LOG SPEC...
  SPEC is http:ADDR:PORT, https:ADDR:PORT:CERT:KEY, tcp:ADDR:PORT, udp:ADDR:PORT
  or dns:ADDR:PORT (a resolver: see RawDNS).

Each connection, request, datagram or websocket frame appends one line to LOG:
  http ADDR:PORT METHOD PATH    tcp ADDR:PORT    udp ADDR:PORT    ws ADDR:PORT TEXT
  dns ADDR:PORT NAME
(https listeners write "http" lines too) and "ready" is written once every
socket listens. The HTTP listeners answer under /v1/ and /ws (see Handler);
everything else gets 404.
"""
import base64
import hashlib
import socket
import socketserver
import ssl
import struct
import sys

from listeners import HTTPServer, QuietHandler, note, serve

BIG = 5_000_000


class Handler(QuietHandler):
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

    def websocket(self):
        """The handshake of RFC 6455, then each text frame is answered with "echo: TEXT"."""
        key = self.headers.get("Sec-WebSocket-Key", "")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            self.reply(400, b"not a websocket handshake\n")
            return
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        # /ws/wrong switches to something else than what was asked.
        self.send_header("Upgrade", "h2c" if self.path == "/ws/wrong" else "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        while True:
            head = self.rfile.read(2)
            if len(head) < 2 or head[0] & 0x0F == 8:
                return
            n = head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", self.rfile.read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
            text = data.decode(errors="replace")
            note(f"ws {self.where()} {text}")
            out = ("echo: " + text).encode()
            self.wfile.write(bytes([0x81, len(out)]) + out)
            self.wfile.flush()

    def handle_any(self):
        note(f"http {self.where()} {self.command} {self.path}")
        path = self.path
        if path.startswith("/ws"):
            self.websocket()
            return
        body = self.read_body()
        if path == "/v1/headers":
            # What arrived, so that the guest sees which headers travelled.
            self.reply(200, "".join(f"{k}: {v}\n" for k, v in self.headers.items()).encode())
        elif path == "/v1/upgrade-anyway":
            # Switches to h2c whatever was asked.
            self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
                             b"Connection: Upgrade\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            self.close_connection = True
        elif path.startswith("/v1/redirect/"):
            where = {"other": "http://other.test/v1/landing",
                     "forbidden": "http://198.51.100.20/v1/landing",
                     "same": "/v1/x/after-redirect"}[path[13:]]
            self.reply(301 if path.endswith("forbidden") else 302, b"moved\n",
                       [("Location", where)])
        elif path == "/v1/x/big":
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


class RawTCP(socketserver.BaseRequestHandler):
    def handle(self):
        addr, port = self.server.server_address[:2]
        note(f"tcp {addr}:{port}")


class RawUDP(socketserver.BaseRequestHandler):
    def handle(self):
        addr, port = self.server.server_address[:2]
        note(f"udp {addr}:{port}")


class RawDNS(socketserver.BaseRequestHandler):
    """Answers A and AAAA queries from ANSWERS by the name's first label; other names NXDOMAIN."""
    ANSWERS = {"loopback": ("127.0.0.1", None), "metadata": ("169.254.169.254", None),
               "private": ("10.1.2.3", None), "forbidden": ("198.51.100.20", None),
               "v6loopback": (None, "::1")}

    def handle(self):
        q, sock = self.request
        addr, port = self.server.server_address[:2]
        labels, pos = [], 12
        while pos < len(q) and q[pos]:
            labels.append(q[pos + 1:pos + 1 + q[pos]].decode(errors="replace"))
            pos += 1 + q[pos]
        name = ".".join(labels)
        qtype = struct.unpack("!H", q[pos + 1:pos + 3])[0]
        note(f"dns {addr}:{port} {name}")
        v4, v6 = self.ANSWERS.get(labels[0] if labels else "", (None, None))
        answer = b""
        if qtype == 1 and v4:
            answer = socket.inet_pton(socket.AF_INET, v4)
        elif qtype == 28 and v6:
            answer = socket.inet_pton(socket.AF_INET6, v6)
        rcode = 0 if v4 or v6 else 3
        head = q[:2] + struct.pack("!HHHHH", 0x8180 | rcode, 1, 1 if answer else 0, 0, 0)
        out = head + q[12:pos + 5]
        if answer:
            out += struct.pack("!HHHIH", 0xC00C, qtype, 1, 5, len(answer)) + answer
        sock.sendto(out, self.client_address)


class TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    servers = []
    for spec in sys.argv[2:]:
        kind, addr, port, *pem = spec.split(":")
        where = (addr, int(port))
        if kind == "http":
            servers.append(HTTPServer(where, Handler))
        elif kind == "https":
            server = HTTPServer(where, Handler)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*pem)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
            servers.append(server)
        elif kind == "tcp":
            servers.append(TCPServer(where, RawTCP))
        elif kind == "dns":
            servers.append(socketserver.ThreadingUDPServer(where, RawDNS))
        else:
            servers.append(socketserver.UDPServer(where, RawUDP))
    serve(servers)


main()
