"""Write compaction: a batch's writes collapsed to fewer commands with the same result.

Each command touches one key, so only the order of a key's own writes matters, and a
key's run of writes collapses to fewer commands with the same result (the last SET of a
string, one HINCRBY per field, the final score of each sorted-set member), so a batch of
many events on few keys stays a small commit script.
"""

from __future__ import annotations

from collections.abc import Sequence

from tandem.stores.redis.commands import MAX_ARGS, Op, as_bytes, chunks, pairs

# Runs of these commands on one key merge into fewer commands (see `compact`).
_FAMILIES = {
    "HSET": "HSET",
    "HINCRBY": "HINCRBY",
    "SADD": "SET",
    "SREM": "SET",
    "ZADD": "ZSET",
    "ZREM": "ZSET",
}


def compact(ops: Sequence[Op]) -> list[Op]:
    """Writes with the same effect as `ops`, usually far fewer.

    Every command here touches exactly one key, so writes to different keys commute and
    only each key's own order matters. Per key: a SET or DEL replaces whatever came
    before it; then each run of consecutive writes of one family merges: HSETs into one
    mapping (the last value of a field wins), HINCRBYs into one per field (the sum,
    sent even when it is 0, since HINCRBY by 0 still creates the field), SADD/SREM and
    ZADD/ZREM into each member's last word (members removed, then members added with
    their final score). HSETX, HDEL and XADD are kept as they are.
    """
    by_key: dict[str, list[Op]] = {}
    for op in ops:
        if op.command in ("SET", "DEL"):
            by_key[op.key] = [op]
        else:
            by_key.setdefault(op.key, []).append(op)
    out: list[Op] = []
    for key, key_ops in by_key.items():
        run: list[Op] = []
        for op in key_ops:
            family = _FAMILIES.get(op.command)
            if run and (family is None or _FAMILIES[run[0].command] != family):
                out.extend(_merge(key, run))
                run = []
            if family is None:
                out.append(op)
            else:
                run.append(op)
        if run:
            out.extend(_merge(key, run))
    return out


def _merge(key: str, run: list[Op]) -> list[Op]:
    """One family's consecutive writes to `key`, merged (an HINCRBY of several fields
    always becomes one command per field, as Redis takes them)."""
    family = _FAMILIES[run[0].command]
    if family == "HINCRBY":
        sums: dict[bytes, int] = {}
        for op in run:
            for field, amount in pairs(op.args):
                sums[field] = sums.get(field, 0) + int(amount)
        return [Op("HINCRBY", key, (f, as_bytes(n))) for f, n in sums.items()]
    if len(run) == 1:
        return run
    if family == "HSET":
        fields: dict[bytes, bytes] = {}
        for op in run:
            fields.update(pairs(op.args))
        flat = [x for pair in fields.items() for x in pair]
        return [Op("HSET", key, chunk) for chunk in chunks(flat, MAX_ARGS)]
    # Sets and sorted sets: the last add or remove of each member decides.
    last: dict[bytes, bytes | None] = {}
    for op in run:
        if op.command == "ZADD":
            for score, member in pairs(op.args):
                last[member] = score
        elif op.command == "SADD":
            for member in op.args:
                last[member] = b""
        else:
            for member in op.args:
                last[member] = None
    removed = [m for m, score in last.items() if score is None]
    if family == "SET":
        added = [m for m, score in last.items() if score is not None]
        remove, add, unit = "SREM", "SADD", 1
    else:
        added = [x for m, score in last.items() if score is not None for x in (score, m)]
        remove, add, unit = "ZREM", "ZADD", 2
    merged = [Op(remove, key, chunk) for chunk in chunks(removed, MAX_ARGS)]
    merged += [Op(add, key, chunk) for chunk in chunks(added, MAX_ARGS - MAX_ARGS % unit)]
    return merged
