"""Reading dotted paths (``a.b.0.c``) through embedded documents and arrays, as MongoDB does."""

from collections.abc import Mapping
from typing import Any

__all__ = ["MISSING", "get_path", "get_path_values", "resolve_path", "split_path"]


class _Missing:
    """A path that leads nowhere (distinct from a field holding null)."""

    _instance: "_Missing | None" = None

    def __new__(cls) -> "_Missing":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

_SPLIT_CACHE: dict[str, tuple[str, ...]] = {}


def split_path(path: str) -> tuple[str, ...]:
    """The components of a dotted path, cached: filters reuse the same paths constantly."""
    parts = _SPLIT_CACHE.get(path)
    if parts is None:
        parts = tuple(path.split("."))
        if len(_SPLIT_CACHE) < 10_000:
            _SPLIT_CACHE[path] = parts
    return parts


def _walk(node: Any, parts: tuple[str, ...], i: int, out: list[Any]) -> bool:
    """Append what ``parts[i:]`` reaches from ``node`` to ``out``; True if a branch led nowhere."""
    if i == len(parts):
        out.append(node)
        return False
    part = parts[i]
    if isinstance(node, Mapping):
        if part in node:
            return _walk(node[part], parts, i + 1, out)
        return True
    if not isinstance(node, list):
        return True
    missing = False
    if part.isdigit():
        index = int(part)
        missing = _walk(node[index], parts, i + 1, out) if index < len(node) else True
    # A name applied to an array reaches into its documents.
    for element in node:
        if isinstance(element, Mapping):
            missing = _walk(element, parts, i, out) or missing
        elif not part.isdigit():
            missing = True
    return missing


def resolve_path(doc: Any, parts: tuple[str, ...]) -> tuple[list[Any], bool]:
    """Every value ``parts`` reaches, and whether some branch of the path was missing.

    Query operators need both: ``{a.b: null}`` matches a missing branch, and
    ``$exists`` tells a missing field from one holding null.
    """
    out: list[Any] = []
    missing = _walk(doc, parts, 0, out)
    return out, missing


def get_path_values(doc: Mapping[str, Any], path: str) -> list[Any]:
    """Every value a dotted path reaches, fanning out over arrays; empty when missing."""
    parts = split_path(path)
    if len(parts) == 1:
        return [doc[path]] if path in doc else []
    out: list[Any] = []
    _walk(doc, parts, 0, out)
    return out


def get_path(doc: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """``(found, value)`` of a dotted path without fanning out (numeric parts index arrays)."""
    node: Any = doc
    for part in split_path(path):
        if isinstance(node, Mapping):
            if part not in node:
                return False, None
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node
