"""``python -m odmantic_fastapi.embedded``: run the embedded MongoDB-compatible server."""

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from .auth import USERS_ENVIRONMENT_VARIABLE, parse_users
from .server import MongoServer, ServerConfig
from .storage.journal import DataDirError, JournalCorruptError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odmantic-fastapi-embedded",
        description="A MongoDB-compatible server with snapshot-isolated transactions.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=27017, help="port (0 picks a free one)")
    storage = parser.add_mutually_exclusive_group()
    storage.add_argument("--data-dir", type=Path, help="keep data durably in this directory")
    storage.add_argument(
        "--in-memory", action="store_true", help="keep data in memory only (the default)"
    )
    parser.add_argument(
        "--advertise-host", help="host name clients should use, when it differs from --host"
    )
    parser.add_argument("--max-connections", type=int, default=20000)
    parser.add_argument(
        "--enable-test-commands",
        action="store_true",
        help="accept configureFailPoint (fault injection); never on a production server",
    )
    parser.add_argument(
        "--repair-journal",
        action="store_true",
        help="start even if a journal is damaged before its end: keep the intact records "
        "before the damage, move the rest to a *.dropped* file, and log what was dropped",
    )
    parser.add_argument(
        "--auth-user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="require SCRAM-SHA-256 authentication and accept this user (repeatable; "
        f"{USERS_ENVIRONMENT_VARIABLE}=NAME:PASSWORD,... keeps passwords out of ps)",
    )
    parser.add_argument("--log-level", default="WARNING")
    return parser


async def _serve(config: ServerConfig) -> None:
    server = MongoServer(config)
    url = await server.start()
    print(url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int, frame: object) -> None:
        # A plain handler runs between two bytecodes of whatever the main thread
        # is doing, even a long command on the event loop: that command (and any
        # worker thread) then ends with InterruptedAtShutdown at its next check.
        server.interrupt()
        loop.call_soon_threadsafe(stop.set)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    await stop.wait()
    await server.checkpoint()
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve until SIGINT/SIGTERM, and return the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        users = parse_users(args.auth_user)
        users |= parse_users([os.environ.get(USERS_ENVIRONMENT_VARIABLE, "")], lists=True)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = ServerConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        max_connections=args.max_connections,
        advertise_host=args.advertise_host,
        test_commands=args.enable_test_commands,
        repair_journal=args.repair_journal,
        users=users,
    )
    try:
        asyncio.run(_serve(config))
    except DataDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except JournalCorruptError as exc:
        print(
            f"error: {exc}. Nothing was changed. To start anyway, run again with "
            "--repair-journal: it keeps the records before that byte and moves the rest "
            "aside to a .dropped file.",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
