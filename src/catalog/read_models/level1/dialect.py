"""What SQLite and PostgreSQL spell differently in the level-1 queries.

Statements are written once with `?` placeholders and these fragments; the PostgreSQL
snapshot numbers the placeholders (`$1`, `$2`, …) before sending them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\?")


@dataclass(frozen=True)
class Dialect:
    name: str
    # A JSON column as text.
    json_text: str
    # `FROM` item expanding one order's JSON lines into rows with a `value` column.
    each_line: str
    # One field of an order line (`value`), as text.
    line_field: str

    def text(self, column: str) -> str:
        return self.json_text.format(column=column)

    def lines_of(self, column: str) -> str:
        return self.each_line.format(column=column)

    def field(self, name: str) -> str:
        return self.line_field.format(name=name)


SQLITE = Dialect(
    name="sqlite",
    json_text="{column}",
    each_line="json_each({column}) AS l",
    line_field="json_extract(l.value, '$.{name}')",
)

POSTGRES = Dialect(
    name="postgres",
    json_text="{column}::text",
    each_line="jsonb_array_elements({column}) AS l(value)",
    line_field="(l.value ->> '{name}')",
)


def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1`, `$2`, … (no statement here has a literal
    question mark)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)
