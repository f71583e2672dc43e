"""What the e2e tests' listeners share: the log that each of them writes to
(LOG, the script's first argument), a quiet HTTP/1.1 handler that reads bodies, an HTTP server
that can take TLS in the request's thread, and the loop that serves them."""
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = open(sys.argv[1], "a", buffering=1)
LOCK = threading.Lock()


def note(line):
    with LOCK:
        LOG.write(line + "\n")


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        """The request's body, chunked or with a Content-Length (trailers are read and dropped)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, where, handler, ctx=None):
        super().__init__(where, handler)
        self.ctx = ctx

    def get_request(self):
        sock, addr = self.socket.accept()
        if not self.ctx:
            return sock, addr
        # The handshake happens on the first read, in the request's thread.
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


def serve(servers):
    """Serve each in a thread of its own, say "ready" and wait for the end."""
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    note("ready")
    threading.Event().wait()
