"""A MongoDB-compatible server speaking the wire protocol, with snapshot-isolated transactions."""

__all__: list[str] = []
