"""Transfers between two of the owner's accounts: debit, credit and record in one transaction."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, status
from fastapi.responses import JSONResponse

from odmantic_fastapi import ObjectId, SessionDep, TransactionDep

from ..idempotency import run_idempotent
from ..models import MAX_BALANCE, Owner, Transfer, TransferIn, TransferOut
from ..security import CurrentOwner
from ._common import AUTHENTICATED, owned_account, transfer_out

__all__ = ["router"]

router = APIRouter(prefix="/transfers", tags=["transfers"], responses=AUTHENTICATED)


async def _transfer(tx: TransactionDep, owner: Owner, body: TransferIn) -> dict[str, Any]:
    if body.from_account == body.to_account:
        raise HTTPException(422, "Cannot transfer to the same account")
    source = await owned_account(tx, owner, body.from_account)
    target = await owned_account(tx, owner, body.to_account)
    if source.currency != target.currency:
        raise HTTPException(
            422,
            f"Currency mismatch: {source.currency} to {target.currency}",
        )
    if source.balance < body.amount:
        raise HTTPException(status.HTTP_409_CONFLICT, "Insufficient funds")
    if target.balance + body.amount > MAX_BALANCE:
        raise HTTPException(422, f"Balance would exceed {MAX_BALANCE}")
    source.model_update(balance=source.balance - body.amount)
    target.model_update(balance=target.balance + body.amount)
    record = Transfer(
        owner_id=owner.id,
        kind="transfer",
        from_account=source.id,
        to_account=target.id,
        amount=body.amount,
        currency=source.currency,
    )
    await tx.save_all([source, target, record])
    return transfer_out(record).model_dump(mode="json")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TransferOut,
    responses={
        404: {"description": "No such account for this owner"},
        409: {"description": "Insufficient funds, or a concurrent change: retry"},
        422: {"description": "Same account, currency mismatch, invalid amount or reused key"},
    },
)
async def create_transfer(
    body: TransferIn,
    owner: CurrentOwner,
    tx: TransactionDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Move money between two of your accounts, atomically."""
    return await run_idempotent(
        tx, owner, idempotency_key, "transfer", body, 201, lambda: _transfer(tx, owner, body)
    )


@router.get(
    "/{transfer_id}", response_model=TransferOut, responses={404: {"description": "Not found"}}
)
async def get_transfer(
    transfer_id: ObjectId, owner: CurrentOwner, session: SessionDep
) -> TransferOut:
    transfer = await session.find_one(
        Transfer, (Transfer.id == transfer_id) & (Transfer.owner_id == owner.id)
    )
    if transfer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Transfer {transfer_id} not found")
    return transfer_out(transfer)
