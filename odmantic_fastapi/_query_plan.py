"""Query and plan building for both engines: what a find, aggregate or update sends.

Everything here is pure: it turns the engines' arguments (queries, sort,
skip, limit, projection, pipelines, update expressions) into the filter,
command arguments or pipeline a driver call takes, and says how results are
parsed. Both engines build with it and only differ in how they send.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel
from pymongo import IndexModel

from .field import FieldProxy, ODMReference
from .index import ODMBaseIndex
from .model import Model
from .projection import Parser, output_parser, projection_plan
from .query import QueryDictBool, QueryExpression, SortExpression, _to_bson, and_
from .reference import LazyReference
from .typing import ModelType
from .update import update_document

__all__ = [
    "FindPlan",
    "aggregate_plan",
    "build_query",
    "fetch_plan",
    "fetched_in_order",
    "find_plan",
    "is_model_class",
    "model_filter",
    "pymongo_indexes",
    "sort_expression",
    "update_plan",
]


def is_model_class(model: Any) -> bool:
    return isinstance(model, type) and issubclass(model, Model)


def build_query(*queries: QueryDictBool) -> QueryExpression:
    """The queries as one (``$and`` of them when several)."""
    if not queries:
        return QueryExpression()
    for query in queries:
        if isinstance(query, bool):
            raise TypeError("cannot build query using booleans")
    typed = cast(tuple[QueryExpression | dict[str, Any], ...], queries)
    if len(typed) == 1:
        return QueryExpression(typed[0])
    return and_(*typed)


def sort_expression(sort: Any) -> SortExpression | None:
    """The sort document of a field, an ``asc``/``desc`` descriptor, or a tuple of them."""
    if sort is None:
        return None
    items = sort if isinstance(sort, tuple) else (sort,)
    expression: dict[str, Any] = {}
    for item in items:
        if isinstance(item, SortExpression):
            expression.update(item)
        elif isinstance(item, FieldProxy):
            expression[+item] = 1
        else:
            raise TypeError(
                "sort elements have to be Model fields or asc, desc descriptors"
                if isinstance(sort, tuple)
                else "sort has to be a Model field or asc, desc descriptors or a tuple of these"
            )
    return SortExpression(expression)


def reference_pipeline(model: type[Model], prefix: str = "") -> list[dict[str, Any]]:
    """$lookup stages that fetch ``model``'s references, nested ones included."""
    pipeline: list[dict[str, Any]] = []
    for name in model.__references__:
        reference = cast(ODMReference, model.__odm_fields__[name])
        target = cast(type[Model], reference.model)
        key = reference.key_name
        if reference.keeps_keys:
            keys = {"$cond": [{"$isArray": "$$keys"}, "$$keys", ["$$keys"]]}
            pipeline.append(
                {
                    "$lookup": {
                        "from": target.__collection__,
                        "let": {"keys": {"$ifNull": [f"${key}", []]}},
                        "pipeline": [
                            {"$match": {"$expr": {"$in": ["$_id", keys]}}},
                            *reference_pipeline(target, f"{prefix}{name}."),
                        ],
                        "as": reference.lookup_key,
                    }
                }
            )
            continue
        pipeline.append(
            {
                "$lookup": {
                    "from": target.__collection__,
                    "let": {"foreign_id": f"${key}"},
                    "pipeline": [
                        {"$match": {"$expr": {"$eq": ["$_id", "$$foreign_id"]}}},
                        *reference_pipeline(target, f"{prefix}{name}."),
                    ],
                    "as": key,
                }
            }
        )
        pipeline.append({"$unwind": {"path": f"${key}", "preserveNullAndEmptyArrays": True}})
    return pipeline


def class_filter(model: type[Model]) -> dict[str, Any] | None:
    """The filter selecting a subclass's documents in a hierarchy's collection."""
    root = model.__polymorphic_root__
    if root is None or root is model or model.__discriminator__ is None:
        return None
    values = [value for value, cls in root.__hierarchy__.items() if issubclass(cls, model)]
    key = model.__discriminator__[0]
    return {key: values[0]} if len(values) == 1 else {key: {"$in": values}}


def model_filter(model: type[Model], *queries: QueryDictBool) -> QueryExpression:
    """The queries combined, restricted to ``model``'s class in a hierarchy."""
    query = build_query(*queries)
    restriction = class_filter(model)
    if restriction is None:
        return query
    return QueryExpression(restriction) if not query else and_(restriction, query)


@dataclass
class FindPlan:
    """What a find sends (a find command, or a pipeline when references are fetched)."""

    query: QueryExpression
    sort: SortExpression | None
    skip: int
    limit: int | None
    projection: dict[str, Any] | None
    pipeline: list[dict[str, Any]] | None
    parse: Parser

    def send(self, collection: Any, session: Any, batch_size: int = 0) -> Any:
        """The driver cursor (or, on motor, a coroutine of one) for this find.

        ``batch_size`` 0 leaves batches to the server (101 documents, then up
        to 16 MiB); the async engine asks for smaller ones to parse while
        the next is fetched (see ``cursor.PARSE_BATCH``).
        """
        if self.pipeline is not None:
            batching = {"batchSize": batch_size} if batch_size else {}
            return collection.aggregate(self.pipeline, session=session, **batching)
        return self._find(collection, session, self.limit or 0, batch_size)

    def send_one(self, collection: Any, session: Any) -> Any:
        """The driver cursor of the first document only (no pipeline): one batch, closed.

        A limit of -1 is the driver's own ``find_one``: the server answers in a
        single batch and keeps no cursor. Read with ``to_list(1)`` (async) or
        ``next`` (sync), it spares a single lookup the cursor objects of ours.
        """
        return self._find(collection, session, -1, 0)

    def _find(self, collection: Any, session: Any, limit: int, batch_size: int) -> Any:
        return collection.find(
            self.query,
            self.projection,
            sort=list(self.sort.items()) if self.sort else None,
            skip=self.skip,
            limit=limit,
            batch_size=batch_size,
            session=session,
        )


def find_plan(
    model: type[Model],
    *queries: QueryDictBool,
    sort: Any = None,
    skip: int = 0,
    limit: int | None = None,
    projection: Any = None,
) -> FindPlan:
    """The find command or aggregation pipeline a find sends, and how results are parsed."""
    if not is_model_class(model):
        raise TypeError("Can only call find with a Model class")
    sort_doc = sort_expression(sort)
    if limit is not None and limit <= 0:
        raise ValueError("limit has to be a strict positive value or None")
    if skip < 0:
        raise ValueError("skip has to be a positive integer")
    query = model_filter(model, *queries)
    spec: dict[str, Any] | None = None
    parse: Parser = model.model_validate_doc
    fetching: type[Model] | None = model
    if projection is not None:
        spec, parse, fetching = projection_plan(model, projection)
    references = reference_pipeline(fetching) if fetching is not None else []
    plan = FindPlan(query, sort_doc, skip, limit, spec, None, parse)
    if references:
        pipeline: list[dict[str, Any]] = [{"$match": query}]
        if sort_doc is not None:
            pipeline.append({"$sort": sort_doc})
        if skip:
            pipeline.append({"$skip": skip})
        if limit:
            pipeline.append({"$limit": limit})
        if spec is not None:
            pipeline.append({"$project": spec})
        pipeline.extend(references)
        plan.pipeline = pipeline
    return plan


def aggregate_plan(
    model: type[Model], pipeline: Sequence[Any], output: type[BaseModel] | None
) -> tuple[list[dict[str, Any]], Parser]:
    """The stages sent for ``aggregate``: query expressions become $match stages."""
    if not is_model_class(model):
        raise TypeError("Can only call aggregate with a Model class")
    stages: list[dict[str, Any]] = []
    restriction = class_filter(model)
    if restriction is not None:
        stages.append({"$match": restriction})
    for stage in pipeline:
        if isinstance(stage, QueryExpression):
            stages.append({"$match": dict(stage)})
        elif isinstance(stage, dict):
            stages.append(stage)
        else:
            raise TypeError(f"a pipeline holds stage documents or query expressions, not {stage!r}")
    return stages, output_parser(output)


def update_plan(
    model: type[Model], queries: Sequence[QueryDictBool], update: Any
) -> tuple[QueryExpression, dict[str, Any]]:
    """The filter and update document of ``update``; it counts a revision up, too."""
    if not is_model_class(model):
        raise TypeError("Can only call update with a Model class")
    updates = update if isinstance(update, list | tuple) else [update]
    document = update_document(updates)
    revision = model.__revision_field__
    if revision is not None:
        key = model.__odm_fields__[revision].key_name
        if any(key in fields for fields in document.values()):
            raise ValueError(f"the revision field {revision!r} is counted by the engine")
        document = document & {"$inc": {key: 1}}
    discriminator = model.__discriminator__
    if discriminator is not None and any(
        discriminator[0] in fields for fields in document.values()
    ):
        raise ValueError(f"an update cannot change the class key {discriminator[0]!r}")
    return model_filter(model, *queries), dict(document)


def fetch_plan(references: Sequence[LazyReference[ModelType]]) -> tuple[type[Model], list[Any]]:
    """The model and the keys ``fetch_all`` reads in one query."""
    models = {reference.model for reference in references}
    if len(models) != 1:
        raise ValueError("fetch_all takes references to one model")
    return models.pop(), [_to_bson(reference.id) for reference in references]


def fetched_in_order(
    references: Sequence[LazyReference[ModelType]], found: Sequence[ModelType]
) -> list[ModelType]:
    """The fetched instances in the references' order; each reference keeps its instance."""
    by_key: dict[Any, ModelType] = {}
    for instance in found:
        by_key[_to_bson(getattr(instance, instance.__primary_field__))] = instance
    ordered: list[ModelType] = []
    for reference in references:
        match = by_key.get(_to_bson(reference.id))
        if match is not None:
            reference._fetched(match)
            ordered.append(match)
    return ordered


def pymongo_indexes(model: type[Model]) -> list[IndexModel]:
    """The model's declared indexes as pymongo ``IndexModel``s."""
    indexes: list[IndexModel] = []
    for index in model.__indexes__():
        indexes.append(index.get_pymongo_index() if isinstance(index, ODMBaseIndex) else index)
    return indexes
