"""Lookups and conversions shared by the routes."""

from fastapi import HTTPException, Query, status

from odmantic_fastapi import AIOSession, ObjectId

from ..models import Account, AccountOut, Owner, Transfer, TransferOut

__all__ = [
    "AUTHENTICATED",
    "MALFORMED_BODY",
    "Limit",
    "Offset",
    "account_out",
    "owned_account",
    "transfer_out",
]

# Responses every operation of a router can give, documented once per router.
MALFORMED_BODY: dict[int | str, dict[str, str]] = {
    400: {"description": "The body could not be read (not JSON, or not UTF-8)"},
    413: {"description": "The body is over the size limit (DEMO_MAX_BODY_BYTES, 64 KiB)"},
}
AUTHENTICATED: dict[int | str, dict[str, str]] = {
    **MALFORMED_BODY,
    401: {"description": "Missing or invalid bearer token"},
}

Offset = Query(0, ge=0, le=1_000_000, description="Items to skip")
Limit = Query(20, ge=1, le=100, description="Items per page")


async def owned_account(session: AIOSession, owner: Owner, account_id: ObjectId) -> Account:
    """The owner's account; 404 for unknown ids and for other owners' accounts alike."""
    account = await session.find_one(
        Account, (Account.id == account_id) & (Account.owner_id == owner.id)
    )
    if account is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Account {account_id} not found")
    return account


def account_out(account: Account) -> AccountOut:
    return AccountOut(
        id=str(account.id),
        currency=account.currency,
        balance=account.balance,
        created_at=account.created_at,
    )


def transfer_out(transfer: Transfer) -> TransferOut:
    return TransferOut(
        id=str(transfer.id),
        kind=transfer.kind,
        from_account=str(transfer.from_account) if transfer.from_account else None,
        to_account=str(transfer.to_account) if transfer.to_account else None,
        amount=transfer.amount,
        currency=transfer.currency,
        created_at=transfer.created_at,
    )
