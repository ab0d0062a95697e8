"""``python -m demo_app``: serve the demo with uvicorn on 127.0.0.1:8000."""

import asyncio
import os
import sys

import uvicorn
from pymongo.errors import ServerSelectionTimeoutError

from odmantic_fastapi.connect import open_engine
from odmantic_fastapi.settings import MongoSettings

from .config import DemoSettings, mongo_settings
from .main import create_app

__all__ = ["main"]


async def _check_reachable(settings: MongoSettings) -> None:
    async with open_engine(settings):
        pass


def main() -> int:
    demo = DemoSettings()
    settings = mongo_settings(demo, dict(os.environ))
    if not settings.uses_embedded_server:
        # An unreachable MONGODB_URL is one line on stderr, not uvicorn's startup traceback.
        try:
            asyncio.run(_check_reachable(settings))
        except ServerSelectionTimeoutError as exc:
            print(f"demo_app: {exc}", file=sys.stderr)
            return 1
    app = create_app(settings, max_body_bytes=demo.max_body_bytes)
    uvicorn.run(app, host=demo.host, port=demo.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
