"""Owners: sign up and get a bearer token."""

from fastapi import APIRouter, status

from odmantic_fastapi import TransactionDep

from ..models import Owner, OwnerIn, OwnerOut
from ..security import hash_token, new_token
from ._common import MALFORMED_BODY

__all__ = ["router"]

router = APIRouter(prefix="/owners", tags=["owners"], responses=MALFORMED_BODY)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OwnerOut)
async def create_owner(body: OwnerIn, tx: TransactionDep) -> OwnerOut:
    """Create an owner; the token in the response is the only copy (only its hash is stored)."""
    token = new_token()
    owner = Owner(name=body.name, token_hash=hash_token(token))
    await tx.save(owner)
    return OwnerOut(id=str(owner.id), name=owner.name, token=token)
