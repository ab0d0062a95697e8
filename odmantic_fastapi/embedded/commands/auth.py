"""Authentication commands: saslStart and saslContinue for SCRAM-SHA-256."""

from typing import Any

from bson import Binary

from ..auth import MECHANISM, ScramConversation
from ..errors import CommandError
from ._base import Context, command

__all__: list[str] = []


def _payload(ctx: Context) -> bytes:
    payload = ctx.cmd.get("payload")
    if isinstance(payload, bytes | Binary):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    raise CommandError(14, "BSON field 'payload' must be binary data")


@command("saslStart")
async def sasl_start(ctx: Context) -> dict[str, Any]:
    users = ctx.server.users
    if not users.enabled:
        raise CommandError(18, "Authentication failed: this server has no users")
    if ctx.cmd.get("mechanism") != MECHANISM:
        # As for an unknown user (drivers pick SCRAM-SHA-1 when hello names no mechanism).
        raise CommandError(18, f"Authentication failed: this server supports {MECHANISM} only")
    conversation = ScramConversation(users, _payload(ctx))
    ctx.connection.scram = conversation
    return {
        "conversationId": 1,
        "done": False,
        "payload": Binary(conversation.server_first.encode()),
        "ok": 1.0,
    }


@command("saslContinue")
async def sasl_continue(ctx: Context) -> dict[str, Any]:
    conversation = ctx.connection.scram
    if conversation is None:
        raise CommandError(17, "No SASL session state found")
    ctx.connection.scram = None
    try:
        final = conversation.finish(_payload(ctx))
    except CommandError:
        raise
    ctx.connection.user = conversation.user
    return {"conversationId": 1, "done": True, "payload": Binary(final.encode()), "ok": 1.0}
