"""Find projections: inclusion, exclusion, dotted paths, $slice, $elemMatch, positional and textScore."""

from collections.abc import Mapping
from typing import Any

from ..errors import CommandError
from .matcher import Matcher, compile_filter
from .paths import split_path

__all__ = ["Projection", "compile_projection"]


def _include(doc: Mapping[str, Any], tree: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        sub = tree.get(key)
        if sub is None:
            continue
        if sub is True:
            out[key] = value
        elif isinstance(value, Mapping):
            out[key] = _include(value, sub)
        elif isinstance(value, list):
            out[key] = [_include(v, sub) for v in value if isinstance(v, Mapping)]
    return out


def _exclude(doc: Mapping[str, Any], tree: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        sub = tree.get(key)
        if sub is True:
            continue
        if sub is None:
            out[key] = value
        elif isinstance(value, Mapping):
            out[key] = _exclude(value, sub)
        elif isinstance(value, list):
            out[key] = [_exclude(v, sub) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    return out


def _add(tree: dict[str, Any], path: str) -> None:
    parts = split_path(path)
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if child is True:
            raise CommandError(31250, f"Path collision at {path}")
        node = child
    if parts[-1] in node and node[parts[-1]] is not True:
        raise CommandError(31250, f"Path collision at {path}")
    node[parts[-1]] = True


def _slice(value: Any, spec: Any) -> Any:
    if not isinstance(value, list):
        return value
    if isinstance(spec, int) and not isinstance(spec, bool):
        return value[:spec] if spec >= 0 else value[spec:]
    skip, limit = spec
    if limit <= 0:
        raise CommandError(28724, "Second argument to $slice must be a positive number")
    start = skip if skip >= 0 else max(len(value) + skip, 0)
    return value[start : start + limit]


class Projection:
    """A compiled projection."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.tree: dict[str, Any] = {}
        self.inclusion: bool | None = None
        self.include_id = True
        self.slices: dict[str, Any] = {}
        self.elem_matches: dict[str, Matcher] = {}
        self.positional: str | None = None
        self.text_score: str | None = None
        for path, value in spec.items():
            if path == "_id" and not isinstance(value, Mapping):
                self.include_id = bool(value)
                continue
            if isinstance(value, Mapping):
                self._special(path, value)
                continue
            if path.endswith(".$"):
                self.positional = path[:-2]
                self._mode(True, path)
                _add(self.tree, path[:-2])
                continue
            if isinstance(value, bool | int | float):
                self._mode(bool(value), path)
                _add(self.tree, path)
            else:
                raise CommandError(
                    2,
                    f"projection value for '{path}' must be 0/1/true/false in the embedded server",
                )

    def _mode(self, include: bool, path: str) -> None:
        if self.inclusion is None:
            self.inclusion = include
        elif self.inclusion != include:
            kind = "exclusion" if not include else "inclusion"
            other = "inclusion" if not include else "exclusion"
            raise CommandError(
                31254 if not include else 31253,
                f"Cannot do {kind} on field {path} in {other} projection",
            )

    def _special(self, path: str, value: Mapping[str, Any]) -> None:
        if "$slice" in value:
            spec = value["$slice"]
            valid = isinstance(spec, int) and not isinstance(spec, bool)
            valid = valid or (
                isinstance(spec, list) and len(spec) == 2 and all(isinstance(x, int) for x in spec)
            )
            if not valid:
                raise CommandError(28667, "$slice takes a number or an array of two numbers")
            self.slices[path] = spec
        elif "$elemMatch" in value:
            self.elem_matches[path] = compile_filter(value["$elemMatch"])
        elif value.get("$meta") == "textScore":
            self.text_score = path
        else:
            raise CommandError(2, f"Unsupported projection option: {path}: {dict(value)}")

    def apply(self, doc: Mapping[str, Any], *, matcher: Matcher | None = None) -> dict[str, Any]:
        if self.inclusion:
            tree = dict(self.tree)
            for path in list(self.slices) + list(self.elem_matches):
                _add(tree, path)
            out = _include(doc, tree)
            if self.include_id and "_id" in doc:
                out = {"_id": doc["_id"], **{k: v for k, v in out.items() if k != "_id"}}
        else:
            tree = dict(self.tree)
            if not self.include_id:
                tree["_id"] = True
            out = _exclude(doc, tree)
        for path, spec in self.slices.items():
            if path in out:
                out[path] = _slice(out[path], spec)
        for path, elem in self.elem_matches.items():
            value = doc.get(path)
            out.pop(path, None)
            if isinstance(value, list):
                for element in value:
                    if isinstance(element, Mapping) and elem.matches(element):
                        out[path] = [element]
                        break
        if self.positional is not None:
            position = matcher.first_array_position(doc) if matcher is not None else None
            top = split_path(self.positional)[0]
            value = doc.get(top)
            if position is None or not isinstance(value, list) or position >= len(value):
                raise CommandError(
                    51246,
                    "Executor error during find command :: caused by :: positional "
                    "operator '.$' couldn't find a matching element in the array",
                )
            out[top] = [value[position]]
        if self.text_score is not None:
            out[self.text_score] = matcher.text_score(doc) if matcher is not None else 0.0
        return out


def compile_projection(projection: Mapping[str, Any] | None) -> Projection | None:
    """Validate and compile a projection; None when it would return documents unchanged."""
    if not projection:
        return None
    if not isinstance(projection, Mapping):
        raise CommandError(2, "projection must be an object")
    return Projection(projection)
