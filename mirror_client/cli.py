"""Command line: ``takedown-mirror`` (or ``python -m mirror_client``) ``sync``, ``receive``, ``verify``."""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from .audit import audit
from .errors import MirrorClientError
from .receiver import Receiver
from .sync import sync

TOKEN_ENV = "TAKEDOWN_MIRROR_TOKEN"
SECRET_ENV = "TAKEDOWN_WEBHOOK_SECRET"


def _connection(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--server", required=required, help="base URL of the host, e.g. https://takedown.example.org")
    p.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                   help=f"mirror token (td_mirror_...); defaults to ${TOKEN_ENV}")
    p.add_argument("--dataset", required=required, help="dataset slug, e.g. demo")
    p.add_argument("--data", required=True, type=Path, help="folder holding the NNNNN.parquet / NNNNN.tar shards")
    p.add_argument("--release", help="release the folder holds (needed only when it cannot be told)")
    p.add_argument("--public-key", help="base64 raw Ed25519 key to trust instead of the pinned or published one")
    p.add_argument("--quiet", action="store_true", help="print errors only")


# receive: a full sync after this long without one (a lost webhook is caught up within it).
POLL_SECONDS = 900


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds (0 or more)")
    return seconds


def _key_ref(value: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{16}|[0-9a-fA-F]{64}", value.strip()):
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither a key id (16 hex digits) nor a sha256 fingerprint (64 hex digits)")
    return value.strip().lower()


def _trust_key(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-key", type=_key_ref, metavar="KEY_ID_OR_FINGERPRINT",
                   help="the host's signing key expected: its key id or the sha256 of its 32 raw bytes, as the "
                        "host's operators publish it. Without it the first sync trusts the key the host lists "
                        "(trust on first use)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the client."""
    parser = argparse.ArgumentParser(
        prog="takedown-mirror",
        description="Apply the host's signed blocklists to a local copy of a dataset.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("sync", help="fetch the newest blocklist of the local release, apply it, acknowledge")
    _connection(p, required=True)
    _trust_key(p)
    p = commands.add_parser("receive", help="listen for the host's webhooks and sync when a blocklist is published")
    p.add_argument("--listen", required=True, help="HOST:PORT to listen on, e.g. 127.0.0.1:9000 (port 0: any)")
    p.add_argument("--secret", default=os.environ.get(SECRET_ENV),
                   help=f"the mirror's webhook secret (whsec_...); defaults to ${SECRET_ENV}")
    p.add_argument("--poll", type=_seconds, default=POLL_SECONDS, metavar="SECONDS",
                   help=f"also sync when no sync ran for this long, in case a webhook was lost "
                        f"(default {POLL_SECONDS}; 0: only on webhooks)")
    _connection(p, required=True)
    _trust_key(p)
    p = commands.add_parser("verify", help="check that no blocked key is left in the local shards (exit 1 if any)")
    _connection(p, required=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the client; returns the exit status (0 ok, 1 failure or blocked keys found, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "verify" or args.server:
        if not args.token:
            parser.error(f"--token is required (or set ${TOKEN_ENV})")
        if not args.dataset:
            parser.error("--dataset is required with --server")

    def log(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    try:
        if args.command == "sync":
            sync(args.server, args.token, args.dataset, args.data, release=args.release,
                 public_key=args.public_key, log=log, trust_key=args.trust_key)
        elif args.command == "verify":
            return _verify(args, log)
        else:
            return _receive(parser, args, log)
    except MirrorClientError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", status=130)
    except Exception as exc:  # a bug or an unforeseen environment problem: still one line
        return _fail(f"unexpected {type(exc).__name__}: {exc}")
    return 0


def _verify(args, log) -> int:
    result = audit(args.data, server=args.server, token=args.token, dataset=args.dataset, release=args.release,
                   public_key=args.public_key, log=log)
    for shard in result.shards:
        if not shard.clean or not args.quiet:
            print(shard.line(), flush=True)
    print(result.summary(), flush=True, file=sys.stdout if result.clean else sys.stderr)
    return 0 if result.clean else 1


def _receive(parser, args, log) -> int:
    if not args.secret:
        parser.error(f"--secret is required (or set ${SECRET_ENV})")
    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        parser.error(f"--listen {args.listen!r} is not HOST:PORT")

    def run_sync(announced: dict | None = None):
        sync(args.server, args.token, args.dataset, args.data, release=args.release, public_key=args.public_key,
             log=log, announced=announced, trust_key=args.trust_key)

    def say(line: str) -> None:  # the receiver's own lines go out even with --quiet when they are errors
        if not args.quiet or line.startswith("error:"):
            print(line, flush=True, file=sys.stderr if line.startswith("error:") else sys.stdout)

    try:
        receiver = Receiver((host.strip("[]"), int(port)), args.secret, run_sync, dataset=args.dataset, log=say,
                            poll_seconds=args.poll)
    except OSError as exc:
        raise MirrorClientError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    receiver.start(initial_sync=False)
    print(f"listening on {receiver.url} for webhooks of {args.dataset}", flush=True)
    receiver.request_sync()  # catch up on what was published while no receiver ran
    while not stop.wait(0.5):
        pass
    say("stopping: finishing the running sync, if any")
    receiver.stop()
    print("stopped", flush=True)
    return 0


def _fail(message: str, status: int = 1) -> int:
    print("error: " + " ".join(message.split()), file=sys.stderr, flush=True)
    return status
