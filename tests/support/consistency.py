"""A history of concurrent client sessions, and the guarantees it must show.

Each session (one client with its own cookie jar) records every request it makes as an
`Op`: writes with the version they were acknowledged at, reads with the minimum
version they asked for and the version and document they got. `check` then lists every
violation of what the API promises (api.md, quality.md "Reliability"):

- every response is an answer: no 5xx but 503, no 503 without `Retry-After`, no hang
  (client timeout) and no request left unanswered;
- a command is accepted in the end (retried with its `Idempotency-Key` on 503) while the
  write database is up;
- read-your-writes: a read answers at a version at least the session's last
  acknowledged write and at least the `min_version` it asked for;
- monotonic reads: per session and read model, versions never go back, nor does a
  product document's own version;
- acknowledged writes are visible at their version: a product read at version R shows
  the price of the last acknowledged price write with version <= R or of a later write
  (a read's version is taken before it reads, so it never overstates the data), or of a
  write whose outcome the client never learnt; a cart shows the session's acknowledged additions;
  an order shows the checkout's total; what a session's floor says exists is not 404.

>>> history = History()
>>> history.add(Op("s1", "price", "p1", status=200, version=7, value="9.99"))
>>> check(history.ops)
[]
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

WRITES = frozenset({"create", "price", "stock", "cart_add", "checkout"})
READS = frozenset({"product", "search", "stats", "cart", "order"})
# The read model that serves each read kind (versions are compared within one model).
MODEL = {
    "product": "product_detail",
    "search": "product_search",
    "stats": "category_stats",
    "cart": "cart_view",
    "order": "order_view",
}


@dataclass
class Op:
    """One request of one session (a write's retries with one key count as one op)."""

    session: str
    kind: str
    target: str
    start: float = 0.0
    end: float = 0.0
    status: int | None = None
    error: str | None = None
    retry_after: str | None = None
    value: Any = None
    version: int | None = None
    min_version: int = 0
    read_version: int | None = None
    document: Any = None
    attempts: list[tuple[int | None, str | None, str | None]] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.kind in WRITES and self.status in (200, 201) and self.version is not None

    @property
    def unknown_outcome(self) -> bool:
        """A write the client cannot tell happened or not (no answer, or a failure)."""
        return self.kind in WRITES and (self.status is None or self.status >= 500)


class History:
    """Ops appended by many threads; read `ops` once they have stopped."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self._lock = threading.Lock()

    def add(self, op: Op) -> Op:
        with self._lock:
            self.ops.append(op)
        return op


def classify(status: int | None, error: str | None, retry_after: str | None) -> str | None:
    """Why one response breaks the contract, or None when it is an allowed answer."""
    if status is None:
        return f"no answer ({error or 'unknown'})"
    if status == 503 and not retry_after:
        return "503 without Retry-After"
    if status >= 500 and status != 503:
        return f"status {status}"
    return None


def _responses(op: Op) -> Iterable[tuple[int | None, str | None, str | None]]:
    if op.attempts:
        yield from op.attempts
    else:
        yield op.status, op.error, op.retry_after


def check(ops: list[Op]) -> list[str]:
    """Every violation the history shows (empty when it keeps every guarantee)."""
    problems: list[str] = []
    for op in ops:
        for status, error, retry_after in _responses(op):
            why = classify(status, error, retry_after)
            if why is not None:
                problems.append(f"{op.session} {op.kind} {op.target}: {why}")
        if op.kind in WRITES and op.status is not None and op.status == 503:
            problems.append(f"{op.session} {op.kind} {op.target}: command never accepted (503)")
    problems += _check_sessions(ops)
    problems += _check_visibility(ops)
    return problems


def _check_sessions(ops: list[Op]) -> list[str]:
    problems: list[str] = []
    by_session: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_session[op.session].append(op)
    for session, mine in by_session.items():
        mine.sort(key=lambda o: o.start)
        floor = 0
        seen: dict[str, int] = {}
        doc_versions: dict[str, int] = {}
        for op in mine:
            if op.acknowledged:
                assert op.version is not None
                floor = max(floor, op.version)
                continue
            if op.kind not in READS or op.status != 200 or op.read_version is None:
                continue
            model = MODEL[op.kind]
            where = f"{session} read {op.kind} {op.target}"
            if op.read_version < op.min_version:
                problems.append(f"{where}: at {op.read_version} below min_version {op.min_version}")
            if op.read_version < floor:
                problems.append(f"{where}: at {op.read_version} misses own write at {floor}")
            if op.read_version < seen.get(model, 0):
                problems.append(f"{where}: at {op.read_version} after {seen[model]} (went back)")
            seen[model] = max(seen.get(model, 0), op.read_version)
            if op.kind == "product" and isinstance(op.document, dict):
                version = int(op.document.get("version", 0))
                if version < doc_versions.get(op.target, 0):
                    problems.append(f"{where}: document version {version} went back")
                doc_versions[op.target] = max(doc_versions.get(op.target, 0), version)
    return problems


def _price_candidates(
    ops: list[Op],
) -> tuple[dict[str, list[tuple[int, str]]], dict[str, set[str]]]:
    acked: dict[str, list[tuple[int, str]]] = defaultdict(list)
    unknown: dict[str, set[str]] = defaultdict(set)
    for op in ops:
        if op.kind not in ("create", "price"):
            continue
        if op.acknowledged:
            assert op.version is not None
            acked[op.target].append((op.version, str(op.value)))
        elif op.unknown_outcome:
            unknown[op.target].add(str(op.value))
    for writes in acked.values():
        writes.sort()
    return acked, unknown


def _same_price(a: str, b: str) -> bool:
    return Decimal(a) == Decimal(b)


def _expected_price(writes: list[tuple[int, str]], at: int) -> tuple[int, str] | None:
    visible = [w for w in writes if w[0] <= at]
    return visible[-1] if visible else None


def _check_price(
    where: str, product: str, price: str, at: int, acked: Any, unknown: Any
) -> str | None:
    writes = acked.get(product, [])
    expected = _expected_price(writes, at)
    if expected is None:
        return None
    # The version a read reports is taken before it reads, so the data may be newer:
    # the expected price or any later write's, never an earlier one's.
    allowed = {p for v, p in writes if v >= expected[0]} | unknown.get(product, set())
    if any(_same_price(price, p) for p in allowed):
        return None
    return f"{where}: price {price} at {at}, acknowledged write at {expected[0]} set {expected[1]}"


def _check_visibility(ops: list[Op]) -> list[str]:
    problems: list[str] = []
    acked, unknown = _price_candidates(ops)
    created = {
        op.target: op.version for op in ops if op.kind in ("create", "checkout") and op.acknowledged
    }
    by_session: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_session[op.session].append(op)
    for op in ops:
        if op.kind not in READS:
            continue
        where = f"{op.session} read {op.kind} {op.target}"
        floor = max([op.min_version, *_own_floor(by_session[op.session], op)])
        made = created.get(op.target)
        if op.status == 404 and made is not None and made <= floor:
            problems.append(f"{where}: 404 though created at {made} <= {floor}")
        if op.status != 200 or op.read_version is None or not isinstance(op.document, dict):
            continue
        doc = op.document
        if op.kind == "product" and "price" in doc:
            why = _check_price(where, op.target, doc["price"], op.read_version, acked, unknown)
            if why:
                problems.append(why)
        elif op.kind == "search":
            for item in doc.get("items", []):
                why = _check_price(
                    f"{where} item {item.get('id')}",
                    str(item.get("id")),
                    str(item.get("price")),
                    op.read_version,
                    acked,
                    unknown,
                )
                if why:
                    problems.append(why)
        elif op.kind == "cart":
            problems += _check_cart(where, op, ops)
        elif (
            op.kind == "order"
            and op.value is not None
            and not _same_price(str(doc.get("total")), str(op.value))
        ):
            problems.append(f"{where}: total {doc.get('total')}, checkout said {op.value}")
    return problems


def _own_floor(mine: list[Op], read: Op) -> list[int]:
    return [
        o.version for o in mine if o.acknowledged and o.version is not None and o.end <= read.start
    ]


def _check_cart(where: str, read: Op, ops: list[Op]) -> list[str]:
    assert read.read_version is not None
    adds = [o for o in ops if o.kind == "cart_add" and o.target == read.target]
    if any(o.unknown_outcome for o in adds):
        return []
    wanted: dict[str, int] = defaultdict(int)
    for add in adds:
        if add.acknowledged and add.version is not None and add.version <= read.read_version:
            product, quantity = add.value
            wanted[str(product)] += int(quantity)
    lines = read.document.get("lines", []) if isinstance(read.document, dict) else []
    got = {str(line["product_id"]): int(line["quantity"]) for line in lines}
    if got != dict(wanted):
        return [f"{where}: lines {got} at {read.read_version}, acknowledged {dict(wanted)}"]
    return []


def tally(ops: list[Op]) -> dict[str, int]:
    """Counts for the report: commands issued and acknowledged, reads by outcome."""
    counts: dict[str, int] = defaultdict(int)
    for op in ops:
        if op.kind in WRITES:
            counts["commands issued"] += 1
            counts["commands acknowledged"] += op.acknowledged
            counts["commands refused (409/4xx)"] += op.status is not None and 400 <= op.status < 500
            counts["command retries after 503"] += max(0, len(op.attempts) - 1)
        else:
            counts["reads"] += 1
            counts["reads checked (200)"] += op.status == 200
            counts["reads answered 503"] += op.status == 503
    return dict(counts)
