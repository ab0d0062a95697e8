"""What both engines share: their database, transaction defaults, and creating indexes.

:class:`AIOEngine` and :class:`SyncEngine` differ only in the client they
drive and in how they wait for it; the database they work on, the options
their transactions start from and the index set-up are the same, here.
"""

from collections.abc import Sequence
from functools import partial
from typing import Any

import pymongo.errors
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from ._driver import DriverSession, TransactionOptions
from ._query_plan import pymongo_indexes
from ._steps import Steps
from .model import Model
from .typing import ModelType
from .utils import check_database_name

__all__ = ["DEFAULT_TRANSACTION_OPTIONS", "BaseEngine"]

# Money-safe transaction defaults: read a consistent snapshot, and acknowledge
# a commit only once a majority of the replica set has it.
DEFAULT_TRANSACTION_OPTIONS = TransactionOptions(
    read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
)

#: IndexOptionsConflict and IndexKeySpecsConflict: an index of that name exists, defined otherwise.
_INDEX_CHANGED = (85, 86)


class BaseEngine:
    """The database an engine works on and the defaults of its transactions."""

    client: Any
    database: Any
    _collections: tuple[Any, dict[str, Any]]

    def __init__(self, database: str, transaction_options: TransactionOptions | None) -> None:
        check_database_name(database)
        self.database_name = database
        self.transaction_options = (transaction_options or TransactionOptions()).merged_over(
            DEFAULT_TRANSACTION_OPTIONS
        )

    def get_collection(self, model: type[ModelType]) -> Any:
        """The driver collection holding ``model``'s documents.

        Kept per collection name: the driver builds a new collection object
        (options, codecs) for each ``database[name]``, which cost a few
        microseconds on every query and write. A replaced ``database``
        starts a new cache.
        """
        database = self.database
        cache = self.__dict__.get("_collections")
        if cache is None or cache[0] is not database:
            cache = self._collections = (database, {})
        name = model.__collection__
        collection = cache[1].get(name)
        if collection is None:
            collection = cache[1][name] = database[name]
        return collection

    def _configure_steps(
        self,
        models: Sequence[type[Model]],
        update_existing_indexes: bool,
        session: "DriverSession | None",
    ) -> Steps[None]:
        """Create the models' indexes; an index whose definition changed is recreated if asked."""
        for model in models:
            collection = self.get_collection(model)
            for index in pymongo_indexes(model):
                try:
                    yield partial(collection.create_indexes, [index], session=session)
                except pymongo.errors.OperationFailure as exc:
                    if not update_existing_indexes or exc.code not in _INDEX_CHANGED:
                        raise
                    name = index.document["name"]
                    yield partial(collection.drop_index, name, session=session)
                    yield partial(collection.create_indexes, [index], session=session)
