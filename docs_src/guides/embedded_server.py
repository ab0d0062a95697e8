"""Guide: running the embedded server from Python, in memory or durably."""

from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, MongoClient

from odmantic_fastapi import AIOEngine, Model
from odmantic_fastapi.embedded import EmbeddedServer, ServerProcess


class Note(Model):
    text: str


# --8<-- [start:in_process]
async def in_memory() -> int:
    # In this process, on a free port of 127.0.0.1; the data goes with the server.
    with EmbeddedServer() as server:
        async with AsyncMongoClient[dict[str, Any]](server.url) as client:
            engine = AIOEngine(client, database="notes")
            await engine.save(Note(text="kept in memory"))
            return await engine.count(Note)


# --8<-- [end:in_process]


# --8<-- [start:durable]
def survives_a_restart(data_dir: Path) -> list[str]:
    # A child process writing a journal in data_dir; a write is on disk when acknowledged.
    with (
        ServerProcess(data_dir=data_dir) as server,
        MongoClient[dict[str, Any]](server.url) as client,
    ):
        client.notes.note.insert_one({"text": "kept on disk"})
    # A new process on the same directory finds the data again.
    with (
        ServerProcess(data_dir=data_dir) as server,
        MongoClient[dict[str, Any]](server.url) as client,
    ):
        return [doc["text"] for doc in client.notes.note.find()]


# --8<-- [end:durable]
