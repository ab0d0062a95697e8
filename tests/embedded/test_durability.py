"""Durability: acknowledged writes survive kill -9, retried writes apply once, one server per data dir."""

import threading
import time
import uuid
from pathlib import Path

import bson
import pytest
from pymongo.errors import PyMongoError

from odmantic_fastapi.embedded import ServerProcess

from ._process import connect
from ._wire import raw_command


def test_data_survives_a_clean_restart(tmp_path: Path) -> None:
    with ServerProcess(data_dir=tmp_path) as server:
        client = connect(server.url)
        client.app.items.insert_many([{"_id": i} for i in range(100)])
        client.app.items.create_index("x")
        client.close()
    with ServerProcess(data_dir=tmp_path) as server:
        client = connect(server.url)
        assert client.app.items.count_documents({}) == 100
        assert "x_1" in client.app.items.index_information()
        client.close()


@pytest.mark.slow
def test_kill_9_during_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    server = ServerProcess(data_dir=tmp_path)
    url = server.start()
    acknowledged: list[int] = []
    committed_txns: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        client = connect(url)
        i = 0
        try:
            while not stop.is_set():
                client.app.items.insert_one({"_id": i})
                acknowledged.append(i)
                i += 1
        except PyMongoError:
            pass
        finally:
            client.close()

    def transfers() -> None:
        client = connect(url)
        n = 0
        try:
            while not stop.is_set():
                with client.start_session() as session:
                    session.start_transaction()
                    client.app.ledger.insert_one({"_id": f"debit-{n}"}, session=session)
                    client.app.ledger.insert_one({"_id": f"credit-{n}"}, session=session)
                    session.commit_transaction()
                committed_txns.append(n)
                n += 1
        except PyMongoError:
            pass
        finally:
            client.close()

    threads = [threading.Thread(target=writer), threading.Thread(target=transfers)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    server.kill()
    stop.set()
    for t in threads:
        t.join(10)
    assert acknowledged and committed_txns

    with ServerProcess(data_dir=tmp_path) as restarted:
        client = connect(restarted.url)
        present = {d["_id"] for d in client.app.items.find()}
        assert set(acknowledged) <= present
        ledger = {d["_id"] for d in client.app.ledger.find()}
        for n in committed_txns:
            assert {f"debit-{n}", f"credit-{n}"} <= ledger
        # A transaction is all or nothing, also when it was cut off by the crash.
        debits = {x.split("-")[1] for x in ledger if x.startswith("debit-")}
        credits = {x.split("-")[1] for x in ledger if x.startswith("credit-")}
        assert debits == credits
        client.close()


def test_retried_write_after_restart_is_not_applied_twice(tmp_path: Path) -> None:
    command = {
        "update": "acct",
        "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}, "upsert": True}],
        "lsid": {"id": bson.Binary(uuid.uuid4().bytes, 4)},
        "txnNumber": bson.Int64(7),
        "$db": "app",
    }
    with ServerProcess(data_dir=tmp_path) as server:
        first = raw_command(server.url, command)
        assert first["ok"] == 1.0 and first["n"] == 1
    with ServerProcess(data_dir=tmp_path) as server:
        second = raw_command(server.url, command)
        assert second["ok"] == 1.0 and second["n"] == 1
        client = connect(server.url)
        assert client.app.acct.find_one({"_id": 1})["n"] == 1
        client.close()


def test_second_server_on_the_same_data_dir_fails_clearly(tmp_path: Path) -> None:
    with ServerProcess(data_dir=tmp_path):
        second = ServerProcess(data_dir=tmp_path)
        with pytest.raises(RuntimeError, match="lock"):
            second.start(timeout=15)
