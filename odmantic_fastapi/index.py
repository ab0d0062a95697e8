"""``Index``: single, compound, unique and text indexes declared on a model."""

from collections.abc import Sequence
from typing import Any

import pymongo

from .field import FieldProxy
from .query import SortExpression, asc

__all__ = ["Index", "ODMBaseIndex", "ODMCompoundIndex", "ODMSingleFieldIndex", "asc"]


class ODMBaseIndex:
    """An index the ODM creates in ``configure_database``."""

    def __init__(self, unique: bool, index_name: str | None) -> None:
        self.unique = unique
        self.index_name = index_name

    def get_index_specifier(self) -> Sequence[tuple[str, Any]]:
        raise NotImplementedError

    def get_pymongo_index(self) -> pymongo.IndexModel:
        options: dict[str, Any] = {"unique": self.unique}
        if self.index_name is not None:
            options["name"] = self.index_name
        return pymongo.IndexModel(list(self.get_index_specifier()), **options)


class ODMSingleFieldIndex(ODMBaseIndex):
    def __init__(self, key_name: str, unique: bool, index_name: str | None = None) -> None:
        super().__init__(unique, index_name)
        self.key_name = key_name

    def get_index_specifier(self) -> Sequence[tuple[str, Any]]:
        return [(self.key_name, pymongo.ASCENDING)]


class ODMCompoundIndex(ODMBaseIndex):
    """An index over several keys (or one key in descending order, or a text index)."""

    def __init__(
        self,
        fields: tuple[SortExpression, ...],
        unique: bool,
        index_name: str | None,
        text: bool = False,
    ) -> None:
        super().__init__(unique, index_name)
        self.fields = fields
        self.text = text

    def get_index_specifier(self) -> Sequence[tuple[str, Any]]:
        if self.text:
            return [(key, "text") for field in self.fields for key in field]
        return [item for field in self.fields for item in field.items()]


class Index:
    """An index over one or more fields, in model config: ``indexes=lambda: [Index(...)]``.

    Example:
        >>> Index(Book.author, query.desc(Book.year), unique=True, name="by_author_year")
        >>> Index(Book.title, Book.summary, text=True)   # a text index (an extension)
    """

    def __init__(
        self,
        *fields: Any,
        unique: bool = False,
        name: str | None = None,
        text: bool = False,
    ) -> None:
        if not fields:
            raise ValueError("an index needs at least one field")
        if text and unique:
            raise ValueError("a text index cannot be unique")
        for field in fields:
            if not isinstance(field, SortExpression | FieldProxy):
                raise TypeError("Index fields must be model fields or asc/desc expressions")
        self.fields = fields
        self.unique = unique
        self.name = name
        self.text = text

    def to_odm_index(self) -> ODMBaseIndex:
        sorts = tuple(f if isinstance(f, SortExpression) else asc(f) for f in self.fields)
        if len(sorts) == 1 and not self.text:
            ((key, order),) = sorts[0].items()
            if order == pymongo.ASCENDING:
                return ODMSingleFieldIndex(key, self.unique, self.name)
        return ODMCompoundIndex(sorts, self.unique, self.name, text=self.text)

    def get_pymongo_index(self) -> pymongo.IndexModel:
        return self.to_odm_index().get_pymongo_index()
