"""``clarityq-emulator`` (also ``python -m clarityq_emulator``): serve until SIGTERM or SIGINT.

When it is ready it prints exactly one JSON line on stdout (endpoints, the main account's
credentials, the default project); logs go to stderr. Importing this module does not import
DuckDB: ``--help`` and bad arguments answer without it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clarityq-emulator", description="Local MaxCompute + RAM + STS emulator.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--state-file", help="persist state here (JSON, rewritten atomically after each change)")
    parser.add_argument("--seed", help="JSON or YAML seed describing projects, tables, rows and RAM identities")
    parser.add_argument("--log-level", default="INFO", help="stderr log level (default INFO)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from clarityq_emulator.core.server import build_emulator, serve

    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        running = serve(build_emulator(seed=args.seed, state_file=args.state_file), host=args.host, port=args.port)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"emulator: cannot start: {exc}", file=sys.stderr)
        return 2
    print(running.info.to_json(), flush=True)
    logging.getLogger("clarityq.emulator").info("serving on %s", running.base_url)
    while not stop.wait(0.5):
        pass
    running.stop()
    logging.getLogger("clarityq.emulator").info("stopped")
    return 0
