"""Accounts: open, read, list, deposit, withdraw, and their transfer history."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, status
from fastapi.responses import JSONResponse

from odmantic_fastapi import ObjectId, SessionDep, TransactionDep
from odmantic_fastapi.query import desc, or_

from ..idempotency import run_idempotent
from ..models import (
    MAX_BALANCE,
    Account,
    AccountIn,
    AccountOut,
    AmountIn,
    Page,
    Transfer,
    TransferOut,
)
from ..security import CurrentOwner
from ._common import AUTHENTICATED, Limit, Offset, account_out, owned_account, transfer_out

__all__ = ["router"]

router = APIRouter(prefix="/accounts", tags=["accounts"], responses=AUTHENTICATED)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such account for this owner"},
    409: {"description": "Insufficient funds, or a concurrent change: retry"},
    422: {"description": "Invalid amount, or the Idempotency-Key was used with another body"},
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AccountOut)
async def open_account(body: AccountIn, owner: CurrentOwner, tx: TransactionDep) -> AccountOut:
    account = Account(owner_id=owner.id, currency=body.currency)
    await tx.save(account)
    return account_out(account)


@router.get("", response_model=Page[AccountOut])
async def list_accounts(
    owner: CurrentOwner, session: SessionDep, offset: int = Offset, limit: int = Limit
) -> Page[AccountOut]:
    query = Account.owner_id == owner.id
    accounts = await session.find(Account, query, sort=Account.created_at, skip=offset, limit=limit)
    total = await session.count(Account, query)
    return Page(items=[account_out(a) for a in accounts], offset=offset, limit=limit, total=total)


@router.get("/{account_id}", response_model=AccountOut, responses={404: _ERRORS[404]})
async def get_account(account_id: ObjectId, owner: CurrentOwner, session: SessionDep) -> AccountOut:
    return account_out(await owned_account(session, owner, account_id))


async def _move(
    tx: TransactionDep, owner: CurrentOwner, account_id: ObjectId, amount: int, kind: str
) -> dict[str, Any]:
    account = await owned_account(tx, owner, account_id)
    delta = amount if kind == "deposit" else -amount
    new_balance = account.balance + delta
    if new_balance < 0:
        raise HTTPException(status.HTTP_409_CONFLICT, "Insufficient funds")
    if new_balance > MAX_BALANCE:
        raise HTTPException(422, f"Balance would exceed {MAX_BALANCE}")
    account.model_update(balance=new_balance)
    record = Transfer(
        owner_id=owner.id,
        kind="deposit" if kind == "deposit" else "withdrawal",
        to_account=account.id if kind == "deposit" else None,
        from_account=account.id if kind != "deposit" else None,
        amount=amount,
        currency=account.currency,
    )
    await tx.save_all([account, record])
    return transfer_out(record).model_dump(mode="json")


@router.post(
    "/{account_id}/deposit",
    status_code=status.HTTP_201_CREATED,
    response_model=TransferOut,
    responses=_ERRORS,
)
async def deposit(
    account_id: ObjectId,
    body: AmountIn,
    owner: CurrentOwner,
    tx: TransactionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await run_idempotent(
        tx,
        owner,
        idempotency_key,
        f"deposit:{account_id}",
        body,
        201,
        lambda: _move(tx, owner, account_id, body.amount, "deposit"),
    )


@router.post(
    "/{account_id}/withdraw",
    status_code=status.HTTP_201_CREATED,
    response_model=TransferOut,
    responses=_ERRORS,
)
async def withdraw(
    account_id: ObjectId,
    body: AmountIn,
    owner: CurrentOwner,
    tx: TransactionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await run_idempotent(
        tx,
        owner,
        idempotency_key,
        f"withdraw:{account_id}",
        body,
        201,
        lambda: _move(tx, owner, account_id, body.amount, "withdraw"),
    )


@router.get(
    "/{account_id}/transfers", response_model=Page[TransferOut], responses={404: _ERRORS[404]}
)
async def account_transfers(
    account_id: ObjectId,
    owner: CurrentOwner,
    session: SessionDep,
    offset: int = Offset,
    limit: int = Limit,
) -> Page[TransferOut]:
    """The account's movements, newest first."""
    await owned_account(session, owner, account_id)
    query = or_(Transfer.from_account == account_id, Transfer.to_account == account_id)
    items = await session.find(
        Transfer,
        query,
        sort=(desc(Transfer.created_at), desc(Transfer.id)),
        skip=offset,
        limit=limit,
    )
    total = await session.count(Transfer, query)
    return Page(items=[transfer_out(t) for t in items], offset=offset, limit=limit, total=total)
