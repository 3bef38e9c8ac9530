"""`python -m engram.server --host --port --workers --database`."""

from __future__ import annotations

import argparse

from engram.server import DEFAULT_HOST, DEFAULT_PORT, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m engram.server", description=__doc__)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: one per core, up to 4)")
    parser.add_argument(
        "--database", default=None, help="memories database path (default $ENGRAM_HOME/engram.db)"
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.workers, args.database, log_level=args.log_level)


if __name__ == "__main__":
    main()
