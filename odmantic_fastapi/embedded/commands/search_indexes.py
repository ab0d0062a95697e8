"""Atlas Search index commands, answered as MongoDB 7.0 answers them outside Atlas.

The server claims 7.0, where ``createSearchIndexes``, ``updateSearchIndex`` and
``dropSearchIndex`` exist but refuse to run without Atlas Search, and drivers
recognise that refusal by its text. ``$listSearchIndexes`` is refused by the
aggregate command with the stage's own error.
"""

from typing import Any

from ..errors import CommandError
from ._base import Context, collection_name, command

__all__ = ["LIST_SEARCH_INDEXES_ERROR", "SEARCH_INDEX_COMMANDS_ERROR"]

SEARCH_INDEX_COMMANDS_ERROR = (115, "Search index commands are only supported with Atlas.")
LIST_SEARCH_INDEXES_ERROR = (6047401, "$listSearchIndexes stage is only allowed on MongoDB Atlas")


@command("createSearchIndexes", "updateSearchIndex", "dropSearchIndex")
async def search_index_command(ctx: Context) -> dict[str, Any]:
    collection_name(ctx)
    raise CommandError(*SEARCH_INDEX_COMMANDS_ERROR)
