"""The commit script: a batch's writes and its new checkpoint in one atomic `EVALSHA`.

The store registers `COMMIT_SCRIPT` on its client (`redis.asyncio.Redis.register_script`),
which runs it by `EVALSHA` and loads it again if the server lost it (a restart, `SCRIPT
FLUSH`). The script refuses the batch unless the stored checkpoint still equals the one
the batch started from, then runs the buffered writes and sets the new checkpoint. The
writes travel as one argument (`encode_writes`), not one per word, so a batch of
thousands of writes is a handful of script arguments.

A Lua script runs atomically, so readers see a batch entirely or not at all and a
second writer (a stale runner, a rebuild racing the live one) cannot interleave: the
loser of a race fails the comparison and writes nothing. `WATCH`/`MULTI` would give the
same fence, but needs a connection of its own for the whole read phase; the script
keeps the commit one round trip whatever the batch size.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

from tandem.stores.redis.commands import Op

COMMIT_SCRIPT = """
-- KEYS[1]: the checkpoint; KEYS[2..n]: the keys the buffered writes touch.
-- ARGV[1]: checkpoint read before the batch; ARGV[2]: the new checkpoint;
-- ARGV[3]: one letter per key of KEYS[2..n], its expected Redis type (see TYPE_CODES;
--   '-' for keys that are only deleted);
-- ARGV[4]: the writes, one after another: command, index into KEYS, argument count,
--   arguments; strings as a 4-byte big-endian length then the bytes, numbers as
--   4-byte big-endian integers (see `encode_writes`).
local stored = redis.call('GET', KEYS[1]) or '0'
if stored ~= ARGV[1] then
  return {0, stored}
end
local types = {s = 'string', h = 'hash', S = 'set', z = 'zset', x = 'stream'}
local wanted = ARGV[3]
-- Redis does not roll back a script that fails half way: refuse before any write.
for k = 2, #KEYS do
  local want = types[string.sub(wanted, k - 1, k - 1)]
  if want then
    local have = redis.call('TYPE', KEYS[k])['ok']
    if have ~= 'none' and have ~= want then
      return {-1, KEYS[k], have}
    end
  end
end
local writes = ARGV[4]
local size = #writes
local pos = 1
local formats = {}
while pos <= size do
  local command, index, count
  command, index, count, pos = struct.unpack('>I4c0I4I4', writes, pos)
  local format = formats[count]
  if not format then
    format = '>' .. string.rep('I4c0', count)
    formats[count] = format
  end
  local args = {struct.unpack(format, writes, pos)}
  pos = args[count + 1]
  local key = KEYS[index]
  if command == 'HSETX' then
    if redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, unpack(args, 1, count))
    end
  else
    redis.call(command, key, unpack(args, 1, count))
  end
end
redis.call('SET', KEYS[1], ARGV[2])
return {1}
"""

# The letters of ARGV[3] in COMMIT_SCRIPT: the Redis type a batch expects of each key.
TYPE_CODES = {"string": "s", "hash": "h", "set": "S", "zset": "z", "stream": "x"}

_HEADER = struct.Struct(">II")
_LENGTH = struct.Struct(">I")
# The length prefixes of short strings, packed once (most arguments are short).
_SHORT = 1024
_PREFIXES = tuple(_LENGTH.pack(n) for n in range(_SHORT))


def encode_writes(ops: Iterable[Op], index: Mapping[str, int]) -> bytes:
    """ARGV[4] of `COMMIT_SCRIPT`: the writes as one string, so a batch of thousands of
    writes is a handful of script arguments, not one per word of every command."""
    parts: list[bytes] = []
    append = parts.append
    length = _LENGTH.pack
    header = _HEADER.pack
    prefixes = _PREFIXES
    commands: dict[str, bytes] = {}
    for command, key, args in ops:
        encoded = commands.get(command)
        if encoded is None:
            name = command.encode()
            encoded = commands[command] = length(len(name)) + name
        append(encoded)
        append(header(index[key], len(args)))
        for arg in args:
            size = len(arg)
            append(prefixes[size] if size < _SHORT else length(size))
            append(arg)
    return b"".join(parts)
