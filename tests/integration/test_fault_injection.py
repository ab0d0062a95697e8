"""The ODM under injected faults: run_transaction retries, retryable writes applied once."""

from typing import Any

from pymongo import MongoClient

from odmantic_fastapi import AIOEngine, AIOTransaction, Model, SyncEngine, SyncTransaction
from odmantic_fastapi.testing import Faults, fail_command


class Account(Model):
    owner: str
    balance: int = 0


async def test_run_transaction_runs_the_callback_again_after_a_write_conflict(
    aio_engine: AIOEngine, faults: Faults
) -> None:
    calls: list[int] = []

    async def open_account(txn: AIOTransaction) -> None:
        calls.append(1)
        await aio_engine.save(Account(owner="ada", balance=10), session=txn)

    with faults.write_conflict() as fault:
        await aio_engine.run_transaction(open_account)
    assert fault.fired == 1
    assert len(calls) == 2
    assert await aio_engine.count(Account) == 1


async def test_run_transaction_retries_an_unknown_commit_and_applies_it_once(
    aio_engine: AIOEngine, faults: Faults
) -> None:
    calls: list[int] = []

    async def open_account(txn: AIOTransaction) -> None:
        calls.append(1)
        await aio_engine.save(Account(owner="ada"), session=txn)

    with faults.commit_result_unknown(times=2) as fault:
        await aio_engine.run_transaction(open_account)
    assert fault.fired == 2
    assert len(calls) == 1  # only the commit was retried, never the callback
    assert await aio_engine.count(Account) == 1


def test_sync_run_transaction_runs_the_callback_again_after_a_transient_commit_failure(
    sync_engine: SyncEngine, mongodb_client: MongoClient[dict[str, Any]]
) -> None:
    calls: list[int] = []

    def open_account(txn: SyncTransaction) -> None:
        calls.append(1)
        sync_engine.save(Account(owner="ada"), session=txn)

    with fail_command(
        mongodb_client,
        "commitTransaction",
        error_code=251,
        error_labels=["TransientTransactionError"],
    ) as fault:
        sync_engine.run_transaction(open_account)
    assert fault.fired == 1
    assert len(calls) == 2
    assert sync_engine.count(Account) == 1


async def test_a_save_whose_connection_drops_is_retried_by_the_driver_and_applied_once(
    aio_engine: AIOEngine, faults: Faults
) -> None:
    account = Account(owner="ada")
    await aio_engine.save(account)
    account.balance += 5
    with faults.connection_closed(["update", "insert"]) as fault:
        await aio_engine.save(account)
    assert fault.fired == 1
    stored = await aio_engine.find_one(Account, Account.id == account.id)
    assert stored is not None and stored.balance == 5
    assert await aio_engine.count(Account) == 1


async def test_a_save_applied_before_its_connection_drops_is_not_applied_twice(
    aio_engine: AIOEngine, faults: Faults
) -> None:
    account = Account(owner="ada")
    with faults.connection_closed_after_write() as fault:
        await aio_engine.save(account)
    assert fault.fired == 1
    await aio_engine.get_collection(Account).update_one(
        {"_id": account.id}, {"$inc": {"balance": 1}}
    )
    with faults.connection_closed_after_write() as fault:
        await aio_engine.get_collection(Account).update_one(
            {"_id": account.id}, {"$inc": {"balance": 1}}
        )
    assert fault.fired == 1
    stored = await aio_engine.find_one(Account, Account.id == account.id)
    assert stored is not None and stored.balance == 2
    assert await aio_engine.count(Account) == 1
