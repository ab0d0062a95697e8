"""Async MongoDB ODM for FastAPI with ODMantic's API and per-request transactions."""

__all__: list[str] = []
