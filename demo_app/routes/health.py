"""Health: 200 when the database answers, 503 otherwise."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError

from odmantic_fastapi import EngineDep

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(engine: EngineDep) -> JSONResponse:
    try:
        await engine.database.command("ping")
    except PyMongoError:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})
