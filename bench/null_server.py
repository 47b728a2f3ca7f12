"""An HTTP server that does next to nothing: every GET gets the same 1 KB answer.

Not an ASGI app: a bare asyncio protocol (on uvloop when installed) that parses no more
than where each request ends, so it answers tens of thousands of requests a second on
one core. What a load generator measures against it is the generator's own ceiling
(tests/bench/test_open_loop.py checks the open loop with it).

    python -m bench.null_server --port 8099
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

BODY = b'{"data": "' + b"x" * 1000 + b'"}'
ANSWER = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)
END = b"\r\n\r\n"


class NullProtocol(asyncio.Protocol):
    """Answers each complete request head (requests without a body) with `ANSWER`."""

    def __init__(self) -> None:
        self.pending = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.pending += data
        heads = self.pending.count(END)
        if heads:
            self.pending = self.pending[self.pending.rfind(END) + len(END) :]
            self.transport.write(ANSWER * heads)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(NullProtocol, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    try:
        import uvloop

        uvloop.run(serve(port))
    except ImportError:
        asyncio.run(serve(port))


if __name__ == "__main__":
    main()
