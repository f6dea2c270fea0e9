"""Helpers for mirror tests: publishing a removal, and many webhook receivers behind one loopback server."""
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # dozens of webhooks arrive at once
    daemon_threads = True


@dataclass
class Fleet:
    base: str
    server: ThreadingHTTPServer
    # name -> list of answers, each a status code or ("slow", seconds); then 204
    plans: dict = field(default_factory=dict)
    arrivals: dict = field(default_factory=dict)  # name -> [monotonic time of each request]
    bodies: dict = field(default_factory=dict)  # name -> [(headers, body)]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        return f"{self.base}/m/{name}"

    def received(self) -> set[str]:
        with self.lock:
            return {name for name, times in self.arrivals.items() if times}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_fleet() -> Fleet:
    """Receivers at fleet.url(name), answering as fleet.plans[name] says (then 204).

    A plan's answers: a status code; ("slow", seconds) then 204; ("trickle", seconds) a 200 whose body
    comes one byte a second for that long; ("retry-after", status, value) that status with a Retry-After
    header; ("big", bytes) a 200 with a body that large.
    """
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            fleet: Fleet = state["fleet"]
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            name = self.path.rsplit("/", 1)[-1]
            with fleet.lock:
                fleet.arrivals.setdefault(name, []).append(time.monotonic())
                fleet.bodies.setdefault(name, []).append(({k.lower(): v for k, v in self.headers.items()}, body))
                plan = fleet.plans.get(name, [])
                answer = plan.pop(0) if plan else 204
            headers, payload = {"content-length": "2"}, b"ok"
            if isinstance(answer, tuple):
                kind = answer[0]
                if kind == "trickle":
                    self.send_response(200)
                    self.send_header("content-length", str(answer[1]))
                    self.end_headers()
                    try:
                        for _ in range(answer[1]):
                            self.wfile.write(b".")
                            self.wfile.flush()
                            time.sleep(1)
                    except OSError:  # the sender gave up on it
                        pass
                    return
                if kind == "big":
                    self.send_response(200)
                    self.send_header("content-length", str(answer[1]))
                    self.end_headers()
                    try:
                        chunk = b"x" * 65536
                        for _ in range(answer[1] // len(chunk)):
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                    return
                if kind == "retry-after":
                    answer, headers["retry-after"] = answer[1], answer[2]
                else:
                    time.sleep(answer[1])
                    answer = 204
            self.send_response(answer)
            for header, value in headers.items():
                self.send_header(header, value)
            if 300 <= answer < 400:
                self.send_header("location", "http://127.0.0.1:1/elsewhere")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    fleet = Fleet(base=f"http://127.0.0.1:{server.server_address[1]}", server=server)
    state["fleet"] = fleet
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fleet


def publish(operator, key: str, category: str = "copyright") -> list:
    """Take one sample out through a request of that category: the blocklist versions it published."""
    from tests.support.removals import approve_and_publish

    return approve_and_publish(operator, [key], category)[1]
