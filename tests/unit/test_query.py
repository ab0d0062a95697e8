"""Query expressions are the plain MongoDB dicts they stand for."""

import re
from typing import Any

import pytest
from bson import Regex

from odmantic_fastapi import query
from odmantic_fastapi.query import QueryExpression, SortExpression, and_, asc, desc, nor_, or_
from tests.zoo import library
from tests.zoo.library import Address, Genre

# mypy types class attribute access as the field's value type (as it does with
# ODMantic); the query builder works on the field proxies, so type them as Any.
Book: Any = library.Book
Publisher: Any = library.Publisher


def test_comparisons_build_filters_on_key_names() -> None:
    assert (Book.year > 2000) == {"year": {"$gt": 2000}}
    assert (Book.year >= 2000) == {"year": {"$gte": 2000}}
    assert (Book.year < 2000) == {"year": {"$lt": 2000}}
    assert (Book.year <= 2000) == {"year": {"$lte": 2000}}
    assert (Book.title == "Dune") == {"title": {"$eq": "Dune"}}
    assert (Book.title != "Dune") == {"title": {"$ne": "Dune"}}
    assert (Book.pages == 10) == {"n_pages": {"$eq": 10}}
    assert (Book.id == 1) == {"_id": {"$eq": 1}}


def test_functional_forms_match_the_operators() -> None:
    assert query.gt(Book.year, 1) == (Book.year > 1)
    assert query.in_(Book.year, (1, 2)) == {"year": {"$in": [1, 2]}}
    assert query.not_in(Book.year, [3]) == {"year": {"$nin": [3]}}
    assert Book.year.in_([1]) == {"year": {"$in": [1]}}
    assert query.exists(Book.tags) == {"tags": {"$exists": True}}
    assert Book.tags.exists(False) == {"tags": {"$exists": False}}


def test_match_keeps_regex_flags() -> None:
    assert query.match(Book.title, "^D") == {"title": {"$regex": "^D"}}
    compiled = query.match(Book.title, re.compile("^d", re.IGNORECASE))
    assert isinstance(compiled["title"], Regex)
    assert compiled["title"].flags & re.IGNORECASE


def test_logical_combinations() -> None:
    a, b = Book.year > 1, Book.title == "x"
    assert (a & b) == {"$and": [{"year": {"$gt": 1}}, {"title": {"$eq": "x"}}]}
    assert (a | b) == {"$or": [{"year": {"$gt": 1}}, {"title": {"$eq": "x"}}]}
    assert and_(a, b) == (a & b)
    assert or_(a, b) == (a | b)
    assert nor_(a) == {"$nor": [{"year": {"$gt": 1}}]}
    with pytest.raises(TypeError):
        and_(True, a)


def test_dotted_access_into_embedded_models_uses_key_names() -> None:
    assert (Publisher.address.city == "Paris") == {"address.city": {"$eq": "Paris"}}
    assert (Publisher.address.zip_code == "75") == {"address.zip": {"$eq": "75"}}
    with pytest.raises(AttributeError):
        _ = Publisher.address.nope


def test_values_are_converted_to_what_is_stored() -> None:
    assert (Book.genre == Genre.ESSAY) == {"genre": {"$eq": "essay"}}
    address = Address(city="Lyon", zip_code="69")
    assert (Publisher.address == address) == {"address": {"$eq": {"city": "Lyon", "zip": "69"}}}


def test_sort_expressions() -> None:
    assert asc(Book.year) == {"year": 1}
    assert desc(Book.pages) == {"n_pages": -1}
    assert Book.year.desc() == {"year": -1}
    assert isinstance(asc(Book.year), SortExpression)


def test_reprs_are_readable() -> None:
    assert repr(Book.year > 1) == "QueryExpression({'year': {'$gt': 1}})"
    assert repr(QueryExpression()) == "QueryExpression()"
    assert repr(desc(Book.year)) == "SortExpression({'year': -1})"


def test_positive_proxy_gives_the_key_name() -> None:
    assert +Book.pages == "n_pages"
    assert +Book == "books"
