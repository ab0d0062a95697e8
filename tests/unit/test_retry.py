"""The retry policy shared by run_transaction and the request commit: classification and waits."""

import pytest
from pymongo.errors import AutoReconnect, ConnectionFailure, OperationFailure, PyMongoError

from odmantic_fastapi._retry import (
    ErrorCode,
    ErrorLabel,
    Retry,
    backoff,
    commit_steps,
    is_network_error,
    is_transient,
    is_unknown_commit,
)
from odmantic_fastapi._steps import run_sync


def _labelled(exc: PyMongoError, label: str) -> PyMongoError:
    exc._add_error_label(label)
    return exc


def test_a_transient_label_or_a_write_conflict_code_is_transient() -> None:
    assert is_transient(_labelled(OperationFailure("busy", 251), ErrorLabel.TRANSIENT_TRANSACTION))
    assert is_transient(OperationFailure("WriteConflict", ErrorCode.WRITE_CONFLICT))
    assert not is_transient(OperationFailure("duplicate key", 11000))
    assert not is_transient(ValueError("not a database error"))


def test_an_unknown_commit_result_is_retried_unless_the_commit_ran_out_of_time() -> None:
    unknown = _labelled(AutoReconnect("connection reset"), ErrorLabel.UNKNOWN_COMMIT_RESULT)
    assert is_unknown_commit(unknown)
    timed_out = _labelled(
        OperationFailure("operation exceeded time limit", ErrorCode.MAX_TIME_MS_EXPIRED),
        ErrorLabel.UNKNOWN_COMMIT_RESULT,
    )
    assert not is_unknown_commit(timed_out)
    assert not is_unknown_commit(OperationFailure("no label", 8))


def test_network_errors_are_connection_failures() -> None:
    assert is_network_error(AutoReconnect("gone"))
    assert is_network_error(ConnectionFailure("refused"))
    assert not is_network_error(OperationFailure("refused by the server", 13))


@pytest.mark.parametrize("attempt", [1, 2, 5, 20])
def test_backoff_is_jittered_below_a_cap_that_grows_to_half_a_second(attempt: int) -> None:
    cap = min(0.5, 0.005 * 2**attempt)
    waits = [backoff(attempt) for _ in range(200)]
    assert all(0 <= wait <= cap for wait in waits)
    assert len(set(waits)) > 1


def test_a_retry_stops_when_its_budget_is_spent() -> None:
    now = [100.0]
    retry = Retry(10.0, clock=lambda: now[0])
    conflict = OperationFailure("WriteConflict", ErrorCode.WRITE_CONFLICT)
    assert retry.next_attempt() == 1
    assert retry.may_rerun(conflict)
    now[0] = 110.0
    assert not retry.may_rerun(conflict)


class _Commit:
    """A transaction whose commits fail with the given errors, then succeed."""

    def __init__(self, *failures: PyMongoError) -> None:
        self.failures = list(failures)
        self.commits = 0

    def commit(self) -> None:
        self.commits += 1
        if self.failures:
            raise self.failures.pop(0)


def test_commit_steps_commit_again_while_the_outcome_is_unknown() -> None:
    unknown = _labelled(AutoReconnect("reset"), ErrorLabel.UNKNOWN_COMMIT_RESULT)
    txn = _Commit(unknown, unknown)
    slept: list[float] = []
    run_sync(commit_steps(txn, Retry(10.0), slept.append))
    assert txn.commits == 3
    assert len(slept) == 2


def test_commit_steps_raise_a_failure_that_is_not_an_unknown_outcome() -> None:
    conflict = _labelled(
        OperationFailure("WriteConflict", ErrorCode.WRITE_CONFLICT),
        ErrorLabel.TRANSIENT_TRANSACTION,
    )
    txn = _Commit(conflict)
    with pytest.raises(OperationFailure):
        run_sync(commit_steps(txn, Retry(10.0), lambda _: None))
    assert txn.commits == 1


def test_commit_steps_give_up_when_the_budget_is_spent() -> None:
    unknown = _labelled(AutoReconnect("reset"), ErrorLabel.UNKNOWN_COMMIT_RESULT)
    txn = _Commit(unknown)
    with pytest.raises(AutoReconnect):
        run_sync(commit_steps(txn, Retry(0.0), lambda _: None))
    assert txn.commits == 1
