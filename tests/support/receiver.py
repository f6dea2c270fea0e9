"""A real HTTP server on loopback that records webhook deliveries and answers as told."""
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


@dataclass
class Receiver:
    url: str
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 204

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        import time

        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received


def start_receiver() -> Receiver:
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            receiver = state["receiver"]
            receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status = receiver.statuses.pop(0) if receiver.statuses else 204
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/takedown", server=server)
    state["receiver"] = receiver
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


@dataclass
class FileServer:
    """Serves `files` (path -> (status, body, headers)) over GET on loopback; counts the requests."""

    base: str
    server: ThreadingHTTPServer
    files: dict = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)


def start_file_server() -> FileServer:
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            fs = state["server"]
            fs.requested.append(self.path)
            status, body, headers = fs.files.get(self.path, (404, b"not found", {}))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    file_server = FileServer(base=f"http://127.0.0.1:{server.server_address[1]}", server=server)
    state["server"] = file_server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return file_server
