"""The request body size limit: a body over the limit is answered 413 before the route runs.

A declared ``Content-Length`` over the limit is refused without reading the
body; a chunked body is counted as it arrives and refused once it passes the
limit, so no request can make the app hold more than the limit in memory.
"""

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodySizeLimit"]

#: The demo's bodies are a few hundred bytes; 64 KiB leaves room and bounds every request.
DEFAULT_MAX_BODY_BYTES = 64 * 1024


class BodySizeLimit:
    """ASGI middleware answering 413 for an HTTP request body over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse({"detail": self._too_large()}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI passes an HTTPException raised while reading the body through
                    # to the exception handlers (any other error there becomes a 400).
                    raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, counted_receive, send)
