"""Building an index over a large collection in steps, while other clients read and write.

An index built in one go over 200,000 documents held the event loop, and so
every client, for 2.1 s. A build here walks the collection's keys a slice at a
time (``step``), and the command pauses between slices. Writes meanwhile reach
the index being built, as MongoDB's hybrid builds let them: a write to a key
the build has passed (or that did not exist when it began) updates it at
once; a key it has not reached yet is read in its latest state when it gets
there. A unique index remembers the entries that ever had two holders, and
the build checks those (and only those) when it ends. Readers never see the
index until the build is published.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .indexes import Entry, Index, IndexSpec, duplicate_key

if TYPE_CHECKING:
    from .store import Collection, IdKey

__all__ = ["IndexBuild"]


class IndexBuild:
    """One index being built over ``collection``; the collection feeds it its writes."""

    def __init__(self, collection: "Collection", spec: IndexSpec) -> None:
        self.collection = collection
        self.index = Index(spec)
        self.index.suspects = set() if spec.unique else None
        self._keys = list(collection.versions)
        self._remaining = set(self._keys)
        self._next = 0
        collection.builds.append(self)

    @property
    def spec(self) -> IndexSpec:
        return self.index.spec

    def step(self, keys: int) -> bool:
        """Index the kept versions of up to ``keys`` more documents; True once all are done."""
        versions, index, remaining = self.collection.versions, self.index, self._remaining
        end = min(self._next + keys, len(self._keys))
        for key in self._keys[self._next : end]:
            remaining.discard(key)
            for _, doc in versions.get(key, ()):
                if doc is not None:
                    index.add(key, doc)
        self._next = end
        return end == len(self._keys)

    def added(self, key: "IdKey", doc: Mapping[str, Any]) -> None:
        """A version of ``key`` was stored: index it unless the build has yet to reach the key."""
        if key not in self._remaining:
            self.index.add(key, doc)

    def removed(self, key: "IdKey", doc: Mapping[str, Any]) -> None:
        """A version of ``key`` was dropped: unindex it unless the build has yet to reach the key."""
        if key not in self._remaining:
            self.index.remove(key, doc)

    def duplicate(self) -> Mapping[str, Any] | None:
        """For a unique index, a latest document whose entry another latest document has too."""
        suspects: set[Entry] = self.index.suspects or set()
        latest = self.collection.latest
        for entry in suspects:
            holding = [
                doc
                for key in self.index.entries_map.get(entry, {})
                if (doc := latest(key)) is not None and entry in self.index.entries(doc)
            ]
            if len(holding) > 1:
                return holding[1]
        return None

    def publish(self) -> None:
        """Make the index the collection's; raises DuplicateKey when a unique one has a duplicate."""
        duplicate = self.duplicate()
        if duplicate is not None:
            raise duplicate_key(self.collection.namespace, self.index, duplicate)
        self.collection.indexes[self.spec.name] = self.index

    def end(self) -> None:
        """Stop feeding the index (published or abandoned)."""
        self.index.suspects = None
        if self in self.collection.builds:
            self.collection.builds.remove(self)
