"""Storage: versioned collections and their indexes, the journal, and recovery from it."""

__all__: list[str] = []
