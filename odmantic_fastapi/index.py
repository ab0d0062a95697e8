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
    def __init__(
        self, fields: tuple[tuple[str, Any], ...], unique: bool, index_name: str | None
    ) -> None:
        super().__init__(unique, index_name)
        self.fields = fields

    def get_index_specifier(self) -> Sequence[tuple[str, Any]]:
        return list(self.fields)


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
        specifier: list[tuple[str, Any]] = []
        for field in fields:
            if isinstance(field, SortExpression):
                specifier.extend(field.items())
            elif isinstance(field, FieldProxy):
                specifier.append((str(+field), "text" if text else pymongo.ASCENDING))
            else:
                raise TypeError("Index fields must be model fields or asc/desc expressions")
        self.fields = tuple(specifier)
        self.unique = unique
        self.name = name

    def to_odm_index(self) -> ODMBaseIndex:
        if len(self.fields) == 1 and self.fields[0][1] == pymongo.ASCENDING:
            return ODMSingleFieldIndex(self.fields[0][0], self.unique, self.name)
        return ODMCompoundIndex(self.fields, self.unique, self.name)

    def get_pymongo_index(self) -> pymongo.IndexModel:
        return self.to_odm_index().get_pymongo_index()
