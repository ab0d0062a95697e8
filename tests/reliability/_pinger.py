"""``python -m tests.reliability._pinger URL``: another application pinging the server every 5 ms.

Prints "ready" once connected, pings until a line arrives on stdin, then
prints the pings as JSON: ``[[monotonic start, seconds], ...]``. A process of
its own, so that its pings never wait for the GIL of the process under test.
"""

import json
import sys
import threading
import time

from pymongo import MongoClient


def main(url: str) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=30_000)
    client.admin.command("ping")
    stop = threading.Event()

    def wait_for_stop() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    print("ready", flush=True)
    timed: list[tuple[float, float]] = []
    while not stop.is_set():
        start = time.monotonic()
        client.admin.command("ping")
        timed.append((start, time.monotonic() - start))
        time.sleep(0.005)
    client.close()
    print(json.dumps(timed), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
