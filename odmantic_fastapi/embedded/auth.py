"""Optional SCRAM-SHA-256 authentication (RFC 5802, RFC 7677): users, and one conversation's steps.

Users come from ``--auth-user NAME:PASSWORD`` flags or the
``ODMANTIC_FASTAPI_EMBEDDED_USERS`` environment variable (``name:password``
pairs separated by commas); the server keeps only each password's salted
keys. When any user is configured, a connection must authenticate (against
the ``admin`` database, pymongo's default) before any command other than the
handshake.
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import CommandError

__all__ = [
    "MECHANISM",
    "USERS_ENVIRONMENT_VARIABLE",
    "ScramConversation",
    "UserStore",
    "parse_users",
]

USERS_ENVIRONMENT_VARIABLE = "ODMANTIC_FASTAPI_EMBEDDED_USERS"
MECHANISM = "SCRAM-SHA-256"
_ITERATIONS = 15000  # MongoDB's default scramSHA256IterationCount


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


@dataclass(frozen=True)
class _Credentials:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def _credentials(password: str) -> _Credentials:
    salt = secrets.token_bytes(28)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)
    client_key = _hmac(salted, b"Client Key")
    return _Credentials(
        salt, _ITERATIONS, hashlib.sha256(client_key).digest(), _hmac(salted, b"Server Key")
    )


def parse_users(specs: Iterable[str], *, lists: bool = False) -> dict[str, str]:
    """``name:password`` strings as a mapping; with ``lists``, each is a comma-separated list."""
    users: dict[str, str] = {}
    for spec in specs:
        for item in spec.split(",") if lists else [spec]:
            if not item.strip():
                continue
            name, sep, password = item.partition(":")
            if not sep or not name or not password:
                raise ValueError(f"a user must be given as NAME:PASSWORD, not {item!r}")
            users[name] = password
    return users


class UserStore:
    """The configured users' salted keys (never their passwords)."""

    def __init__(self, users: dict[str, str]) -> None:
        self._users = {name: _credentials(password) for name, password in users.items()}

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def get(self, name: str) -> _Credentials | None:
        return self._users.get(name)


def _attributes(message: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if sep:
            out[key] = value
    return out


def _failed() -> CommandError:
    return CommandError(18, "Authentication failed.")


class ScramConversation:
    """The server's side of one SCRAM-SHA-256 exchange."""

    def __init__(self, users: UserStore, client_first: bytes) -> None:
        text = client_first.decode()
        if not text.startswith("n,"):
            raise CommandError(2, "SCRAM: channel binding is not supported")
        bare = text.split(",", 2)[2]
        fields = _attributes(bare)
        self.user = fields.get("n", "").replace("=2C", ",").replace("=3D", "=")
        client_nonce = fields.get("r", "")
        credentials = users.get(self.user)
        if credentials is None or not client_nonce:
            raise _failed()
        self._credentials = credentials
        self._nonce = client_nonce + base64.b64encode(secrets.token_bytes(24)).decode()
        salt = base64.b64encode(credentials.salt).decode()
        self.server_first = f"r={self._nonce},s={salt},i={credentials.iterations}"
        self._client_first_bare = bare

    def finish(self, client_final: bytes) -> str:
        """Check the client's proof; returns the server's final message (its signature)."""
        text = client_final.decode()
        fields = _attributes(text)
        if fields.get("r") != self._nonce or "p" not in fields:
            raise _failed()
        without_proof = text[: text.rindex(",p=")]
        auth_message = f"{self._client_first_bare},{self.server_first},{without_proof}".encode()
        signature = _hmac(self._credentials.stored_key, auth_message)
        try:
            proof = base64.b64decode(fields["p"])
        except ValueError:
            raise _failed() from None
        if len(proof) != len(signature):
            raise _failed()
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(
            hashlib.sha256(client_key).digest(), self._credentials.stored_key
        ):
            raise _failed()
        server_signature = _hmac(self._credentials.server_key, auth_message)
        return "v=" + base64.b64encode(server_signature).decode()
