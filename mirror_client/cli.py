"""Command line: ``python -m mirror_client sync ...``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import MirrorClientError
from .sync import sync

TOKEN_ENV = "TAKEDOWN_MIRROR_TOKEN"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the client."""
    parser = argparse.ArgumentParser(
        prog="python -m mirror_client",
        description="Apply the host's signed blocklists to a local copy of a dataset.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("sync", help="fetch the newest blocklist of the local release, apply it, acknowledge")
    p.add_argument("--server", required=True, help="base URL of the host, e.g. https://takedown.example.org")
    p.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                   help=f"mirror token (td_mirror_...); defaults to ${TOKEN_ENV}")
    p.add_argument("--dataset", required=True, help="dataset slug, e.g. demo")
    p.add_argument("--data", required=True, type=Path, help="folder holding the NNNNN.parquet / NNNNN.tar shards")
    p.add_argument("--release", help="release the folder holds (needed only when it cannot be told)")
    p.add_argument("--public-key", help="base64 raw Ed25519 key to trust instead of the pinned or published one")
    p.add_argument("--quiet", action="store_true", help="print errors only")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the client; returns the exit status (0 ok, 1 failure, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.token:
        parser.error(f"--token is required (or set ${TOKEN_ENV})")

    def log(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    try:
        sync(args.server, args.token, args.dataset, args.data, release=args.release,
             public_key=args.public_key, log=log)
    except MirrorClientError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", status=130)
    except Exception as exc:  # a bug or an unforeseen environment problem: still one line
        return _fail(f"unexpected {type(exc).__name__}: {exc}")
    return 0


def _fail(message: str, status: int = 1) -> int:
    print("error: " + " ".join(message.split()), file=sys.stderr, flush=True)
    return status
