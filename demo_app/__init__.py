"""A money-transfer API on odmantic_fastapi: accounts, deposits, withdrawals and transfers."""

from .main import create_app

__all__ = ["create_app"]
