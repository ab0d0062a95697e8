"""Bearer tokens: generated once, stored only as a SHA-256 hash, checked on every request."""

import hashlib
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from odmantic_fastapi import EngineDep

from .models import Owner

__all__ = ["CurrentOwner", "hash_token", "new_token"]

_bearer = HTTPBearer(auto_error=False, description="The token returned by POST /owners")


def new_token() -> str:
    """256 random bits; high entropy is why a plain SHA-256 suffices to store it."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def current_owner(
    engine: EngineDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Owner:
    """The owner whose token authorises the request; 401 otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    owner = await engine.find_one(Owner, Owner.token_hash == hash_token(credentials.credentials))
    if owner is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Invalid token", headers={"WWW-Authenticate": "Bearer"}
        )
    return owner


CurrentOwner = Annotated[Owner, Depends(current_owner)]
