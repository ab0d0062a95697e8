"""Starting and stopping the embedded server from Python: in a background thread, or as a subprocess."""

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Self

from .server import MongoServer, ServerConfig

__all__ = ["EmbeddedServer", "ServerProcess"]


class _Launcher(ABC):
    """A server that ``with`` starts and stops, whatever runs it."""

    _what: str  # how errors name the server: "embedded server", "server process"
    _url: str | None = None

    @abstractmethod
    def start(self, timeout: float = 30.0) -> str:
        """Start serving; returns the ``mongodb://`` URL to connect to."""

    @abstractmethod
    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The ``mongodb://`` URL of the running server."""
        if self._url is None:
            raise RuntimeError(f"the {self._what} is not running; call start() first")
        return self._url


class EmbeddedServer(_Launcher):
    """The server on its own event loop in a daemon thread of this process.

    Example:
        >>> with EmbeddedServer() as server:          # in memory, a free port
        ...     client = pymongo.MongoClient(server.url)

    ``test_commands=True`` enables ``configureFailPoint`` (fault injection for tests).
    """

    _what = "embedded server"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        max_connections: int = 20000,
        test_commands: bool = False,
    ) -> None:
        self.config = ServerConfig(
            host=host,
            port=port,
            data_dir=Path(data_dir) if data_dir is not None else None,
            max_connections=max_connections,
            test_commands=test_commands,
        )
        self.server: MongoServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._url = None

    def start(self, timeout: float = 30.0) -> str:
        """Start serving and return the ``mongodb://`` URL; raises if startup fails."""
        if self._thread is not None:
            raise RuntimeError("the embedded server is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            server = MongoServer(self.config)
            try:
                self._url = loop.run_until_complete(server.start())
                self.server = server
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(server.stop())
                loop.close()

        self._thread = threading.Thread(target=run, name="odmantic-fastapi-embedded", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the embedded server did not start in time")
        if failure:
            self._thread = None
            raise failure[0]
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving, abort open transactions and close the journal."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None
        self._loop = None
        self.server = None
        self._url = None


class ServerProcess(_Launcher):
    """The server as a child process (``python -m odmantic_fastapi.embedded``).

    A separate process is what crash tests need: :meth:`kill` sends SIGKILL.
    """

    _what = "server process"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        max_connections: int | None = None,
        test_commands: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.host = host
        self.test_commands = test_commands
        self.extra_args = list(extra_args)
        self.port = port
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.max_connections = max_connections
        self.process: subprocess.Popen[str] | None = None
        self._url = None
        # The server's log goes to a file, never to a pipe nobody reads: a full
        # pipe would block the server on its next log line.
        self._log: IO[bytes] | None = None

    def log(self) -> str:
        """What the server has logged so far (its standard error)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def start(self, timeout: float = 30.0) -> str:
        args = [sys.executable, "-m", "odmantic_fastapi.embedded", "--host", self.host]
        args += ["--port", str(self.port)]
        args += ["--data-dir", str(self.data_dir)] if self.data_dir else ["--in-memory"]
        if self.max_connections is not None:
            args += ["--max-connections", str(self.max_connections)]
        if self.test_commands:
            args.append("--enable-test-commands")
        args += self.extra_args
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop() and kill()
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, text=True)
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        line_holder: list[str] = []

        def read_url_then_drain() -> None:
            with stdout:
                line_holder.append(stdout.readline())
                for _ in stdout:  # anything printed later must not fill the pipe either
                    pass

        threading.Thread(target=read_url_then_drain, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not line_holder and time.monotonic() < deadline and self.process.poll() is None:
            time.sleep(0.01)
        line = line_holder[0].strip() if line_holder else ""
        if not line.startswith("mongodb://"):
            process = self.process
            if process.poll() is None:
                process.kill()
            process.wait()
            stderr = self.log()
            self._close()
            raise RuntimeError(f"the embedded server did not start: {stderr.strip() or line}")
        self._url = line
        return line

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the server process is not running")
        return self.process.pid

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the server to shut down cleanly (SIGTERM) and wait for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close()

    def kill(self) -> None:
        """SIGKILL: the crash that durability must survive."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close()

    def _close(self) -> None:
        self.process = None
        self._url = None
        if self._log is not None:
            self._log.close()
            self._log = None
