"""Aggregation expressions: the evaluator, and one dispatch table per operator family.

``evaluate(expr, root)`` and ``validate_expression(expr)`` live in ``_core``;
each family module (arithmetic, logic, strings, arrays, conversion, dates)
declares ``OPERATORS``, and importing this package joins them into the table
the evaluator dispatches on.
"""

from . import arithmetic, arrays, conversion, dates, logic, strings
from ._core import MISSING, OPERATORS, evaluate, is_missing, validate_expression, value_bytes

__all__ = ["MISSING", "evaluate", "is_missing", "validate_expression", "value_bytes"]

for _family in (arithmetic, logic, strings, arrays, conversion, dates):
    OPERATORS.update(_family.OPERATORS)
