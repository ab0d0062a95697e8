"""Query and update evaluation: filters, expressions, projections, sorts, updates and pipelines.

Everything here is pure: documents in, documents (or verdicts) out, with
MongoDB's semantics and error codes. The command handlers call in; nothing
here touches storage, sessions or the wire.
"""

__all__: list[str] = []
