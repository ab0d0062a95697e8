"""``python -m demo_app``: serve the demo with uvicorn on 127.0.0.1:8000."""

import os
import sys

import uvicorn

from .config import DemoSettings, mongo_settings
from .main import create_app

__all__ = ["main"]


def main() -> int:
    demo = DemoSettings()
    app = create_app(mongo_settings(demo, dict(os.environ)))
    uvicorn.run(app, host=demo.host, port=demo.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
