"""Where an update writes: a copy-on-write document writer and the expansion of $, $[] and $[id].

``Writer`` copies only the containers along the paths it modifies, so the
stored version of a document is never mutated; ``concrete_paths`` turns an
update path with positional parts into the paths it addresses in one document.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bson import Int64
from bson.json_util import dumps

from ..errors import CommandError
from .matcher import Matcher, compile_filter

__all__ = [
    "Path",
    "Writer",
    "as_index",
    "compile_array_filters",
    "concrete_paths",
    "render",
    "split_update_path",
    "through_array",
    "unfollowable_part",
    "value_type_name",
]

Path = tuple[str | int, ...]


def value_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "long"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def as_index(part: str | int) -> int | None:
    """An array index named by a path part (``3`` or ``"3"``), else None."""
    if isinstance(part, int):
        return part
    return int(part) if part.isdigit() else None


class Writer:
    """Copy-on-write access to a document being updated."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.root: dict[str, Any] = dict(doc)
        self._owned: set[int] = {id(self.root)}

    def _own(self, parent: Any, key: str | int) -> Any:
        child = parent[key]
        if id(child) not in self._owned and isinstance(child, dict | list):
            child = dict(child) if isinstance(child, dict) else list(child)
            parent[key] = child
            self._owned.add(id(child))
        return child

    def get(self, path: Path) -> tuple[bool, Any]:
        node: Any = self.root
        for part in path:
            # Two branches so mypy narrows node and part separately in each.
            if isinstance(node, dict) and isinstance(part, str) and part in node:
                node = node[part]
            elif isinstance(node, list) and (index := as_index(part)) is not None:
                if index >= len(node):
                    return False, None
                node = node[index]
            else:
                return False, None
        return True, node

    def parent(self, path: Path, *, create: bool) -> Any:
        """The container holding the last part of ``path``, created on the way if asked."""
        node: Any = self.root
        for i, part in enumerate(path[:-1]):
            if isinstance(node, dict):
                assert isinstance(part, str)
                if part not in node:
                    if not create:
                        return None
                    node[part] = {}
                    self._owned.add(id(node[part]))
                elif not isinstance(node[part], dict | list):
                    if not create:
                        return None
                    raise CommandError(
                        28,
                        f"Cannot create field '{path[i + 1]}' in element "
                        f"{{{part}: {render(node[part])}}}",
                    )
                node = self._own(node, part)
            else:
                position = as_index(part)
                padded = position is not None and position >= len(node)
                index = self._list_index(node, part, path, create)
                if index is None:
                    return None
                if node[index] is None and create and padded:
                    # Only an element the update itself appends may become a document;
                    # a stored null blocks the path, as any other scalar does.
                    node[index] = {}
                    self._owned.add(id(node[index]))
                elif not isinstance(node[index], dict | list):
                    if not create:
                        return None
                    raise CommandError(
                        28, f"Cannot create field '{path[i + 1]}' in element {render(node[index])}"
                    )
                node = self._own(node, index)
        return node

    @staticmethod
    def _list_index(node: list[Any], part: str | int, path: Path, create: bool) -> int | None:
        if isinstance(part, str):
            if not part.isdigit():
                if not create:
                    return None
                raise CommandError(
                    28, f"Cannot create field '{part}' in element {{: {render(node)}}}"
                )
            part = int(part)
        if part >= len(node):
            if not create:
                return None
            node.extend([None] * (part + 1 - len(node)))
        return part

    def set(self, path: Path, value: Any) -> None:
        container = self.parent(path, create=True)
        last = path[-1]
        if isinstance(container, dict):
            container[str(last)] = value
        else:
            index = self._list_index(container, last, path, True)
            assert index is not None
            container[index] = value

    def unset(self, path: Path) -> None:
        container = self.parent(path, create=False)
        last = path[-1]
        if isinstance(container, dict):
            container.pop(str(last), None)
        elif isinstance(container, list):
            index = as_index(last)
            if index is not None and index < len(container):
                container[index] = None

    def array_for_write(self, path: Path, op: str) -> list[Any]:
        """The array at ``path`` (owned, created empty when missing) for $push and friends."""
        found, value = self.get(path)
        if not found:
            self.set(path, [])
        elif not isinstance(value, list):
            raise CommandError(
                2 if op != "$pop" else 14,
                f"The field '{'.'.join(map(str, path))}' must be an array but is of type "
                f"{value_type_name(value)} in document {{_id: {render(self.root.get('_id'))}}}",
            )
        container = self.parent(path, create=True)
        key = path[-1] if isinstance(container, dict) else int(path[-1])
        owned = self._own(container, key)
        assert isinstance(owned, list)
        return owned


def render(value: Any) -> str:
    try:
        return dumps(value)
    except Exception:
        return repr(value)


def split_update_path(path: str) -> tuple[str, ...]:
    if not isinstance(path, str) or not path:
        raise CommandError(56, "An empty update path is not valid.")
    parts = tuple(path.split("."))
    if any(not p for p in parts):
        raise CommandError(
            56, f"The update path '{path}' contains an empty field name, which is not allowed."
        )
    return parts


def concrete_paths(
    writer: Writer,
    parts: tuple[str, ...],
    positional: int | None,
    filters: Mapping[str, Any],
    used: set[str],
) -> list[Path]:
    """Expand $, $[] and $[id] into the concrete paths they address."""
    results: list[Path] = [()]
    for part in parts:
        expanded: list[Path] = []
        for prefix in results:
            if part == "$":
                if positional is None:
                    raise CommandError(
                        2, "The positional operator did not find the match needed from the query."
                    )
                expanded.append((*prefix, positional))
            elif part == "$[]" or (part.startswith("$[") and part.endswith("]")):
                found, array = writer.get(prefix)
                if not found or not isinstance(array, list):
                    raise CommandError(
                        2,
                        f"The path '{'.'.join(map(str, prefix))}' must exist in the document in "
                        "order to apply array updates.",
                    )
                if part == "$[]":
                    expanded.extend((*prefix, i) for i in range(len(array)))
                else:
                    identifier = part[2:-1]
                    if identifier not in filters:
                        raise CommandError(
                            2,
                            f"No array filter found for identifier '{identifier}' in path "
                            f"'{'.'.join(parts)}'",
                        )
                    used.add(identifier)
                    test = filters[identifier]
                    expanded.extend((*prefix, i) for i, el in enumerate(array) if test(el))
            elif part.startswith("$"):
                raise CommandError(
                    2, f"The dollar ($) prefixed field '{part}' in '{'.'.join(parts)}' is not valid"
                )
            else:
                expanded.append((*prefix, part))
        results = expanded
    return results


def compile_array_filters(
    array_filters: Sequence[Mapping[str, Any]] | None,
) -> dict[str, Callable[[Any], bool]]:
    compiled: dict[str, Callable[[Any], bool]] = {}
    for spec in array_filters or ():
        if not isinstance(spec, Mapping) or not spec:
            raise CommandError(
                2, "Cannot use an expression without a top-level field name in arrayFilters"
            )
        identifiers = {key.split(".", 1)[0] for key in spec}
        if len(identifiers) != 1:
            raise CommandError(
                9,
                "Error parsing array filter :: caused by :: Expected a single top-level field name",
            )
        identifier = identifiers.pop()
        if identifier in compiled:
            raise CommandError(
                9, f"Found multiple array filters with the same top-level field name {identifier}"
            )
        matcher = compile_filter({"v" + k[len(identifier) :]: v for k, v in spec.items()})
        compiled[identifier] = _element_test(matcher)
    return compiled


def _element_test(matcher: Matcher) -> Callable[[Any], bool]:
    return lambda element: bool(matcher.matches({"v": element}))


def through_array(writer: Writer, path: Path) -> bool:
    """Whether ``path`` passes through (or ends in an element of) a stored array."""
    node: Any = writer.root
    for part in path[:-1]:
        if isinstance(node, list):
            return True
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return isinstance(node, list)


def unfollowable_part(writer: Writer, path: Path) -> int | None:
    """The position of the first part of ``path`` a stored value cannot be followed by.

    A scalar cannot be traversed at all, and an array only by a numeric part;
    MongoDB calls such a path not viable (28). A missing key or index just
    means the path is absent.
    """
    node: Any = writer.root
    for position, part in enumerate(path):
        if isinstance(node, dict):
            if part not in node:
                return None
            node = node[part]
        elif isinstance(node, list):
            index = as_index(part)
            if index is None:
                return position
            if index >= len(node):
                return None
            node = node[index]
        else:
            return position
    return None
