"""Fail points over the wire: configureFailPoint, failCommand and onPrimaryTransactionalWrite."""

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import InsertOne, MongoClient, UpdateOne
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    OperationFailure,
    WriteConcernError,
)

from odmantic_fastapi.embedded import EmbeddedServer, ServerProcess

Client = MongoClient[dict[str, Any]]


@pytest.fixture(scope="module")
def test_server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(test_commands=True) as server:
        yield server


@pytest.fixture
def client(test_server: EmbeddedServer) -> Iterator[Client]:
    c = connect(test_server.url)
    try:
        yield c
    finally:
        c.admin.command("configureFailPoint", "failCommand", mode="off")
        c.admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode="off")
        c.admin.command("configureFailPoint", "failGetMoreAfterCursorCheckout", mode="off")
        c.close()


@pytest.fixture
def coll_name() -> str:
    return f"c_{uuid.uuid4().hex[:12]}"


def connect(url: str, **options: Any) -> Client:
    return MongoClient(url, **options)


def fail(client: Client, mode: Any, **data: Any) -> None:
    client.admin.command("configureFailPoint", "failCommand", mode=mode, data=data)


def fired(client: Client, name: str = "failCommand") -> int:
    """Turn a fail point off and return how many commands it acted on."""
    return int(client.admin.command("configureFailPoint", name, mode="off")["count"])


def test_fail_points_are_refused_unless_test_commands_are_enabled(mongodb_url: str) -> None:
    with EmbeddedServer() as server, connect(server.url) as plain:
        with pytest.raises(OperationFailure) as info:
            plain.admin.command("configureFailPoint", "failCommand", mode="alwaysOn")
        assert info.value.code == 59
        reply = plain.admin.command("getParameter", 1, enableTestCommands=1)
        assert reply["enableTestCommands"] is False


def test_get_parameter_reports_test_commands_enabled(client: Client) -> None:
    assert client.admin.command("getParameter", 1, enableTestCommands=1)["enableTestCommands"]


def test_configure_fail_point_is_validated_like_mongod(client: Client) -> None:
    with pytest.raises(OperationFailure) as info:
        client.test.command("configureFailPoint", "failCommand", mode="off")
    assert info.value.code == 13
    with pytest.raises(OperationFailure):
        client.admin.command("configureFailPoint", "noSuchFailPoint", mode="alwaysOn")
    with pytest.raises(OperationFailure):
        client.admin.command(
            "configureFailPoint", "failCommand", mode="alwaysOn", data={"errorCode": 2}
        )
    with pytest.raises(OperationFailure):
        client.admin.command("configureFailPoint", "failCommand", mode={"sometimes": 1})


def test_times_fails_the_named_commands_that_many_times(client: Client, coll_name: str) -> None:
    coll = client.db[coll_name]
    fail(client, {"times": 2}, failCommands=["insert"], errorCode=2, errorLabels=["Mine"])
    coll.find_one()  # not named: unaffected, and not counted
    for _ in range(2):
        with pytest.raises(OperationFailure) as info:
            coll.insert_one({"a": 1})
        assert info.value.code == 2
        assert info.value.details is not None
        assert info.value.details["errorLabels"] == ["Mine"]
        assert "failCommand" in info.value.details["errmsg"]
    coll.insert_one({"a": 1})
    assert coll.count_documents({}) == 1


def test_skip_lets_the_first_commands_through(client: Client, coll_name: str) -> None:
    coll = client.db[coll_name]
    fail(client, {"skip": 1}, failCommands=["insert"], errorCode=2)
    coll.insert_one({"a": 1})
    with pytest.raises(OperationFailure):
        coll.insert_one({"a": 2})
    with pytest.raises(OperationFailure):
        coll.insert_one({"a": 3})


def test_always_on_until_turned_off_and_count_is_reported(client: Client, coll_name: str) -> None:
    coll = client.db[coll_name]
    fail(client, "alwaysOn", failCommands=["find"], errorCode=11)
    for _ in range(3):
        with pytest.raises(OperationFailure):
            coll.find_one()
    reply = client.admin.command("configureFailPoint", "failCommand", mode="off")
    assert reply["count"] == 3
    assert coll.find_one() is None


def test_activation_probability_zero_and_one(client: Client, coll_name: str) -> None:
    coll = client.db[coll_name]
    fail(client, {"activationProbability": 0}, failCommands=["find"], errorCode=11)
    for _ in range(5):
        coll.find_one()
    fail(client, {"activationProbability": 1}, failCommands=["find"], errorCode=11)
    with pytest.raises(OperationFailure):
        coll.find_one()


def test_app_name_filter_fails_only_that_application(
    test_server: EmbeddedServer, client: Client, coll_name: str
) -> None:
    fail(client, "alwaysOn", failCommands=["find"], errorCode=11, appName="victim")
    with connect(test_server.url, appname="victim") as victim, pytest.raises(OperationFailure):
        victim.db[coll_name].find_one()
    assert client.db[coll_name].find_one() is None


def test_close_connection_drops_the_command_unanswered(
    test_server: EmbeddedServer, client: Client, coll_name: str
) -> None:
    fail(client, {"times": 1}, failCommands=["insert"], closeConnection=True)
    with connect(test_server.url, retryWrites=False) as no_retry:
        with pytest.raises(AutoReconnect):
            no_retry.db[coll_name].insert_one({"a": 1})
        no_retry.db[coll_name].insert_one({"a": 2})
    assert fired(client) == 1
    assert [d["a"] for d in client.db[coll_name].find()] == [2]


def test_block_connection_delays_only_that_connection(
    test_server: EmbeddedServer, client: Client, coll_name: str
) -> None:
    fail(
        client,
        {"times": 1},
        failCommands=["find"],
        blockConnection=True,
        blockTimeMS=600,
        appName="slow",
    )
    elapsed: list[float] = []

    def slow_find() -> None:
        with connect(test_server.url, appname="slow") as slow:
            slow.admin.command("ping")
            started = time.monotonic()
            assert slow.db[coll_name].find_one() is None
            elapsed.append(time.monotonic() - started)

    thread = threading.Thread(target=slow_find)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    client.db[coll_name + "_other"].insert_one({"a": 1})
    assert time.monotonic() - started < 0.3
    thread.join(10)
    assert elapsed and elapsed[0] >= 0.55


def test_block_connection_then_error(client: Client, coll_name: str) -> None:
    fail(
        client,
        {"times": 1},
        failCommands=["find"],
        blockConnection=True,
        blockTimeMS=100,
        errorCode=50,
    )
    started = time.monotonic()
    with pytest.raises(OperationFailure) as info:
        client.db[coll_name].find_one()
    assert info.value.code == 50
    assert time.monotonic() - started >= 0.09


def test_write_concern_error_is_added_after_the_write_is_applied(
    test_server: EmbeddedServer, client: Client, coll_name: str
) -> None:
    fail(
        client,
        {"times": 1},
        failCommands=["insert"],
        writeConcernError={"code": 100, "errmsg": "UnsatisfiableWriteConcern"},
    )
    with (
        connect(test_server.url, retryWrites=False) as no_retry,
        pytest.raises(WriteConcernError) as info,
    ):
        no_retry.db[coll_name].insert_one({"a": 1})
    assert info.value.details is not None
    assert info.value.details["code"] == 100
    assert client.db[coll_name].count_documents({}) == 1


def test_retryable_write_is_retried_on_a_labelled_error_and_applied_once(
    client: Client, coll_name: str
) -> None:
    fail(client, {"times": 1}, failCommands=["insert"], errorCode=262)
    client.db[coll_name].insert_one({"a": 1})  # the driver retries on RetryableWriteError
    assert fired(client) == 1
    assert client.db[coll_name].count_documents({}) == 1


def test_retryable_write_concern_error_is_labelled_and_retried(
    client: Client, coll_name: str
) -> None:
    fail(
        client,
        {"times": 1},
        failCommands=["update"],
        writeConcernError={"code": 262, "errmsg": "ExceededTimeLimit"},
    )
    client.db[coll_name].insert_one({"_id": 1, "n": 0})
    client.db[coll_name].update_one({"_id": 1}, {"$inc": {"n": 1}})
    assert fired(client) == 1
    doc = client.db[coll_name].find_one({"_id": 1})
    assert doc is not None
    assert doc["n"] == 1  # the retry answered from the first, applied, write


def test_network_error_after_the_write_is_retried_and_applied_once(
    client: Client, coll_name: str
) -> None:
    client.admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode={"times": 1})
    client.db[coll_name].insert_one({"_id": 1, "n": 0})
    client.admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode={"times": 1})
    client.db[coll_name].update_one({"_id": 1}, {"$inc": {"n": 1}})
    assert fired(client, "onPrimaryTransactionalWrite") == 1
    assert client.db[coll_name].find_one({"_id": 1}) == {"_id": 1, "n": 1}


def test_a_retry_answered_from_the_stored_reply_does_not_count_towards_the_mode(
    client: Client, coll_name: str
) -> None:
    # Two commands (an insert, then an update of both documents): each is applied,
    # its connection closes, and the driver's retry is answered from the stored reply
    # without firing again. Counted per retry instead, the first command would have
    # used both firings and its retry failed the whole bulk write.
    client.db[coll_name].insert_one({"_id": 1, "x": 11})
    client.admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode={"times": 2})
    result = client.db[coll_name].bulk_write(
        [
            InsertOne({"_id": 2, "x": 22}),
            UpdateOne({"_id": 1}, {"$inc": {"x": 1}}),
            UpdateOne({"_id": 2}, {"$inc": {"x": 1}}),
        ]
    )
    assert (result.inserted_count, result.modified_count) == (1, 2)
    assert fired(client, "onPrimaryTransactionalWrite") == 2
    assert list(client.db[coll_name].find(sort=[("_id", 1)])) == [
        {"_id": 1, "x": 12},
        {"_id": 2, "x": 23},
    ]


def test_fail_before_commit_closes_the_connection_before_the_write(
    test_server: EmbeddedServer, client: Client, coll_name: str
) -> None:
    data = {"failBeforeCommitExceptionCode": 1}
    client.admin.command(
        "configureFailPoint", "onPrimaryTransactionalWrite", mode={"times": 1}, data=data
    )
    client.db[coll_name].insert_one({"_id": 1})  # the driver retries after the network error
    assert fired(client, "onPrimaryTransactionalWrite") == 1
    assert client.db[coll_name].count_documents({}) == 1
    data = {"failBeforeCommitExceptionCode": 2, "closeConnection": False}
    client.admin.command(
        "configureFailPoint", "onPrimaryTransactionalWrite", mode={"times": 1}, data=data
    )
    with pytest.raises(OperationFailure) as info:
        client.db[coll_name].insert_one({"_id": 2})
    assert info.value.code == 2
    assert client.db[coll_name].count_documents({}) == 1


def test_a_retry_answered_from_memory_still_gets_the_write_concern_error(
    client: Client, coll_name: str
) -> None:
    fail(
        client,
        {"times": 2},
        failCommands=["insert"],
        writeConcernError={"code": 262, "errmsg": "ExceededTimeLimit"},
    )
    with pytest.raises(WriteConcernError) as info:
        client.db[coll_name].insert_one({"_id": 1})
    assert info.value.has_error_label("RetryableWriteError")
    assert fired(client) == 2
    assert client.db[coll_name].count_documents({}) == 1


def test_a_change_stream_resumes_after_a_get_more_failure(client: Client, coll_name: str) -> None:
    coll = client.db[coll_name]
    with coll.watch(max_await_time_ms=50) as stream:
        client.admin.command(
            "configureFailPoint",
            "failGetMoreAfterCursorCheckout",
            mode={"times": 1},
            data={"errorCode": 6},
        )
        coll.insert_one({"_id": 1})
        event = None
        for _ in range(50):
            event = stream.try_next()
            if event is not None:
                break
    assert fired(client, "failGetMoreAfterCursorCheckout") == 1
    assert event is not None and event["documentKey"] == {"_id": 1}


def test_a_get_more_failed_by_fail_command_is_not_resumable(client: Client, coll_name: str) -> None:
    # failCommand fails the getMore before it finds its cursor, so (as in mongod) the
    # error is not labelled ResumableChangeStreamError, and the driver does not resume.
    coll = client.db[coll_name]
    with coll.watch(max_await_time_ms=50) as stream:
        fail(client, {"times": 1}, failCommands=["getMore"], errorCode=6, closeConnection=False)
        coll.insert_one({"_id": 1})
        with pytest.raises(OperationFailure) as info:
            for _ in range(50):
                if stream.try_next() is not None:
                    break
    assert info.value.code == 6
    assert not info.value.has_error_label("ResumableChangeStreamError")


def test_a_failed_statement_leaves_its_transaction_open_for_a_retry(
    client: Client, coll_name: str
) -> None:
    # mongod fails the command before it reaches the transaction, so the
    # transaction goes on: the statement can be sent again in it.
    with client.start_session() as session:
        session.start_transaction()
        client.db[coll_name].insert_one({"_id": 1}, session=session)
        fail(client, {"times": 1}, failCommands=["insert"], errorCode=112)
        with pytest.raises(OperationFailure) as info:
            client.db[coll_name].insert_one({"_id": 2}, session=session)
        assert info.value.has_error_label("TransientTransactionError")
        client.db[coll_name].insert_one({"_id": 2}, session=session)
        session.commit_transaction()
    assert sorted(d["_id"] for d in client.db[coll_name].find()) == [1, 2]


def test_a_first_statement_that_fails_does_not_start_the_transaction(
    client: Client, coll_name: str
) -> None:
    # pymongo sends a statement labelled SystemOverloadedError again, with
    # startTransaction again: the failed attempt must not have started it.
    with client.start_session() as session:
        session.start_transaction()
        fail(
            client,
            {"times": 1},
            failCommands=["insert"],
            errorCode=112,
            errorLabels=["RetryableError", "SystemOverloadedError"],
        )
        client.db[coll_name].insert_one({"_id": 1}, session=session)
        session.commit_transaction()
    assert fired(client) == 1
    assert [d["_id"] for d in client.db[coll_name].find()] == [1]


def test_snapshot_errors_in_a_transaction_are_transient(client: Client, coll_name: str) -> None:
    fail(client, {"times": 1}, failCommands=["commitTransaction"], errorCode=246)
    with client.start_session() as session:
        session.start_transaction()
        client.db[coll_name].insert_one({"_id": 1}, session=session)
        with pytest.raises(OperationFailure) as info:
            session.commit_transaction()
    assert info.value.details["codeName"] == "SnapshotUnavailable"
    assert info.value.has_error_label("TransientTransactionError")


def test_an_injected_write_concern_error_is_passed_on_as_given(
    client: Client, coll_name: str
) -> None:
    fail(client, {"times": 1}, failCommands=["insert"], writeConcernError={"code": 64})
    with pytest.raises(WriteConcernError) as info:
        client.db[coll_name].insert_one({"_id": 1})
    assert info.value.details == {"code": 64}


def test_no_such_transaction_on_commit_is_transient(client: Client, coll_name: str) -> None:
    fail(client, {"times": 1}, failCommands=["commitTransaction"], errorCode=251)
    with client.start_session() as session:
        session.start_transaction()
        client.db[coll_name].insert_one({"_id": 1}, session=session)
        with pytest.raises(OperationFailure) as info:
            session.commit_transaction()
    assert info.value.has_error_label("TransientTransactionError")
    assert info.value.details is not None
    assert info.value.details["codeName"] == "NoSuchTransaction"


def test_commit_failure_is_unknown_commit_result_and_the_retry_commits(
    client: Client, coll_name: str
) -> None:
    coll = client.db[coll_name]
    coll.insert_one({"_id": 0})
    fail(client, {"times": 1}, failCommands=["commitTransaction"], errorCode=262)
    with client.start_session() as session:
        session.start_transaction()
        coll.insert_one({"_id": 1}, session=session)
        session.commit_transaction()  # pymongo retries a commit once
    assert fired(client) == 1
    assert coll.count_documents({}) == 2


def test_statement_failure_in_a_transaction_is_transient(client: Client, coll_name: str) -> None:
    coll = client.db[coll_name]
    coll.insert_one({"_id": 0})
    fail(client, {"times": 1}, failCommands=["insert"], errorCode=112)
    with client.start_session() as session:
        session.start_transaction()
        with pytest.raises(OperationFailure) as info:
            coll.insert_one({"_id": 1}, session=session)
        assert info.value.has_error_label("TransientTransactionError")
        session.abort_transaction()
    assert coll.count_documents({}) == 1


def test_server_process_enables_test_commands_from_the_command_line() -> None:
    with ServerProcess(test_commands=True) as process, connect(process.url) as c:
        c.admin.command(
            "configureFailPoint",
            "failCommand",
            mode={"times": 1},
            data={"failCommands": ["ping"], "errorCode": 2},
        )
        with pytest.raises(OperationFailure):
            c.admin.command("ping")
        c.admin.command("ping")


def test_connection_failure_is_what_a_closed_connection_raises(
    test_server: EmbeddedServer, client: Client
) -> None:
    fail(client, {"times": 1}, failCommands=["ping"], closeConnection=True)
    with connect(test_server.url) as other, pytest.raises(ConnectionFailure):
        other.admin.command("ping")
