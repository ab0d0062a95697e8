"""A MongoDB-compatible server speaking the wire protocol, with snapshot-isolated transactions.

Start it from Python::

    from odmantic_fastapi.embedded import EmbeddedServer
    with EmbeddedServer() as server:          # in memory, on a free port
        client = AsyncMongoClient(server.url)

or from a shell: ``python -m odmantic_fastapi.embedded --port 0 --data-dir ./.data``.
"""

from .launcher import EmbeddedServer, ServerProcess
from .server import MongoServer, ServerConfig

__all__ = ["EmbeddedServer", "MongoServer", "ServerConfig", "ServerProcess"]
