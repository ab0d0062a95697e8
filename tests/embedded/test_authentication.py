"""Optional SCRAM-SHA-256 authentication over the wire, with pymongo's own SCRAM client."""

import os
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.errors import OperationFailure

from odmantic_fastapi.embedded import ServerProcess
from odmantic_fastapi.embedded.auth import USERS_ENVIRONMENT_VARIABLE

from ._process import connect


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(extra_args=["--auth-user", "alice:s3cret,pw"]) as process:
        yield process


def test_a_user_with_the_right_password_can_work(server: ServerProcess) -> None:
    client = connect(server.url, username="alice", password="s3cret,pw")
    client.app.items.insert_one({"_id": 1})
    assert client.app.items.find_one() == {"_id": 1}
    assert client.admin.command("connectionStatus")["ok"] == 1.0
    client.close()


def test_a_wrong_password_or_unknown_user_fails_to_authenticate(server: ServerProcess) -> None:
    for username, password in (("alice", "wrong"), ("mallory", "s3cret,pw")):
        client = connect(server.url, username=username, password=password)
        with pytest.raises(OperationFailure) as info:
            client.admin.command("ping")
        assert info.value.code == 18
        client.close()


def test_without_credentials_only_the_handshake_is_answered(server: ServerProcess) -> None:
    client = connect(server.url)
    assert client.admin.command("hello")["ok"] == 1.0
    for attempt in (
        lambda: client.admin.command("ping"),
        lambda: client.list_database_names(),
        lambda: client.app.items.find_one(),
        lambda: client.drop_database("app"),
    ):
        with pytest.raises(OperationFailure) as info:
            attempt()
        assert info.value.code == 13
    client.close()


def test_users_can_come_from_the_environment(tmp_path: Any) -> None:
    os.environ[USERS_ENVIRONMENT_VARIABLE] = "bob:hunter2"
    try:
        process = ServerProcess(host="0.0.0.0")
        url = process.start()
    finally:
        del os.environ[USERS_ENVIRONMENT_VARIABLE]
    try:
        client = connect(url, username="bob", password="hunter2")
        client.app.c.insert_one({"_id": 1})
        assert client.app.c.count_documents({}) == 1
        client.close()
        # Protected, so binding every interface is not warned about.
        assert "warning: listening" not in process.log()
    finally:
        process.stop()
