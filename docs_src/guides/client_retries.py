"""Guide: a client of your API that retries what the API says it may retry."""

import time
from typing import Any

import httpx


def post_with_retries(
    client: httpx.Client, url: str, body: Any, *, idempotency_key: str, attempts: int = 4
) -> httpx.Response:
    """POST ``body``; again after ``Retry-After`` seconds on a 409 or 503 that carries one.

    A 409 without ``Retry-After`` (a duplicate, a business rule) is final: sending
    the same request again gives the same answer.
    """
    headers = {"Idempotency-Key": idempotency_key}
    for attempt in range(1, attempts + 1):
        response = client.post(url, json=body, headers=headers)
        retry_after = response.headers.get("Retry-After")
        if response.status_code not in (409, 503) or retry_after is None or attempt == attempts:
            return response
        time.sleep(min(float(retry_after) * attempt, 30.0))
    raise AssertionError("unreachable: the last attempt returns")
