"""Validation errors (422) that stay small and always encode, whatever the client sent.

FastAPI's default 422 echoes each invalid input whole: a 60 KB name comes back
as 60 KB, and a string holding a lone surrogate (valid JSON, ``"\\ud800"``)
cannot be encoded as UTF-8, so the answer became a 500. Here every echoed
value is cut to a few dozen characters and made encodable.
"""

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse

__all__ = ["ECHO_CHARACTERS", "install_validation_handler"]

#: How much of an invalid string the 422 shows.
ECHO_CHARACTERS = 64


def _text(value: str) -> str:
    """The string cut to ECHO_CHARACTERS, lone surrogates written as ``\\udXXX``."""
    if len(value) > ECHO_CHARACTERS:
        value = f"{value[:ECHO_CHARACTERS]}… ({len(value)} characters)"
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _echo(value: Any) -> Any:
    """An invalid input as the 422 shows it: scalars as they are, strings cut, containers named."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, BaseException):  # a validator's error, in ctx
        return _text(str(value))
    if isinstance(value, Mapping):
        return f"<object of {len(value)} keys>" if value else {}
    if isinstance(value, list | tuple):
        return f"<array of {len(value)} items>" if value else []
    return value


def _error(error: Mapping[str, Any]) -> dict[str, Any]:
    shown = {key: value for key, value in error.items() if key not in ("input", "loc", "ctx")}
    shown["msg"] = str(error["msg"]).encode("utf-8", "backslashreplace").decode("utf-8")
    # A location can name a key the client made up (an extra field): cut it like an input.
    shown["loc"] = [_text(part) if isinstance(part, str) else part for part in error["loc"]]
    if "input" in error:
        shown["input"] = _echo(error["input"])
    if "ctx" in error:
        shown["ctx"] = {key: _echo(value) for key, value in error["ctx"].items()}
    return shown


async def _validation_failed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_error(error) for error in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def install_validation_handler(app: FastAPI) -> None:
    """Answer request validation errors with bounded, always-encodable 422 bodies."""
    app.add_exception_handler(RequestValidationError, _validation_failed)
