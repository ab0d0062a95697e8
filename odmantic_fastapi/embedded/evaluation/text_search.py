"""MongoDB's ``$text`` search without stemming: tokens, stop words, phrases, negation and scores."""

import re
from collections.abc import Mapping
from typing import Any

from ..errors import CommandError
from .paths import get_path_values

__all__ = ["TextSearch", "text_tokens"]

_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)


def text_tokens(text: str) -> list[str]:
    """Lower-cased word tokens without common English stop words (no stemming)."""
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS]


class TextSearch:
    """A ``$text`` query: its terms, negations and phrases, scored against a document."""

    def __init__(self, spec: Any, fields: Mapping[str, float]) -> None:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("$search"), str):
            raise CommandError(2, "$text requires a $search string")
        for key in spec:
            if key not in ("$search", "$language", "$caseSensitive", "$diacriticSensitive"):
                raise CommandError(2, f"unknown $text option: {key}")
        self.case_sensitive = bool(spec.get("$caseSensitive", False))
        search: str = spec["$search"]
        self.phrases = re.findall(r'"([^"]*)"', search)
        rest = re.sub(r'"[^"]*"', " ", search)
        self.terms: list[str] = []
        self.negated: list[str] = []
        for word in rest.split():
            if word.startswith("-") and len(word) > 1:
                self.negated.extend(text_tokens(word[1:]))
            else:
                self.terms.extend(text_tokens(word))
        self.fields = dict(fields)

    def _text(self, doc: Mapping[str, Any]) -> list[tuple[str, float]]:
        chunks: list[tuple[str, float]] = []
        for path, weight in self.fields.items():
            for value in get_path_values(doc, path):
                items = value if isinstance(value, list) else [value]
                chunks.extend((item, weight) for item in items if isinstance(item, str))
        return chunks

    def score(self, doc: Mapping[str, Any]) -> float:
        """Weighted term frequency: for each field, weight * matching tokens ÷ tokens (+1 per phrase)."""
        chunks = self._text(doc)
        if not chunks:
            return 0.0
        score = 0.0
        tokens_all: set[str] = set()
        joined = []
        for text, weight in chunks:
            tokens = text_tokens(text)
            tokens_all.update(tokens)
            joined.append(text if self.case_sensitive else text.lower())
            if tokens:
                hits = sum(1 for t in tokens if t in self.terms)
                score += weight * hits / len(tokens)
        if any(t in tokens_all for t in self.negated):
            return 0.0
        haystack = "\n".join(joined)
        for phrase in self.phrases:
            needle = phrase if self.case_sensitive else phrase.lower()
            if needle not in haystack:
                return 0.0
            score += 1.0
        if self.terms and not any(t in tokens_all for t in self.terms):
            return 0.0
        if not self.terms and not self.phrases:
            return 0.0
        return score

    def matches(self, doc: Mapping[str, Any]) -> bool:
        return self.score(doc) > 0
