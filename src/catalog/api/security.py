"""What a browser may do with each response: its Content-Security-Policy, no content-type
sniffing, no referrer.

Pages (`text/html`) run only the scripts and stylesheets this server serves as files,
talk only to this server, and may not be framed: none of them has an inline script, an
inline style or an event-handler attribute, so no policy needs 'unsafe-inline'. A page
that must do more says so with its own policy (the ReDoc page's styles carry a nonce,
`catalog.api.docs`), which is kept. Everything else (JSON, problem documents, streams,
static files) may run nothing and be framed nowhere.

The hot read and command paths answer in front of this layer, with the constant
`NOSNIFF` header alone (`catalog.api.hot`, `catalog.api.edge.command_response`,
`catalog.api.problems.problem_response`): a JSON answer is never a page.

    app.front = HotReads(HotCommands(SecurityHeaders(app.behind), …), …)
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "Content-Security-Policy"
NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_REFERRER = (b"referrer-policy", b"no-referrer")


def page_policy(*, styles: str = "", workers: str = "") -> str:
    """The policy of a page: this server's scripts, styles, images and connections
    (fetch, EventSource); `styles` and `workers` add sources of <style> elements (a
    nonce, hashes) and of web workers (`blob:`) for a page that needs them."""
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src 'self'{' ' + styles if styles else ''}; img-src 'self' data:; "
        f"font-src 'self'; connect-src 'self';{' worker-src ' + workers + ';' if workers else ''}"
        " form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


PAGE_POLICY = page_policy().encode()
# Whatever is not a page: nothing in it may run, load or be framed.
OTHER_POLICY = b"default-src 'none'; frame-ancestors 'none'"

_CSP = CSP.lower().encode()
_OWN = frozenset({NOSNIFF[0], NO_REFERRER[0]})
_CONTENT_TYPE = b"content-type"
_HTML = b"text/html"


class SecurityHeaders:
    """Sets the headers above on every HTTP response of `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, secured)


def _secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    kept: list[tuple[bytes, bytes]] = []
    page = has_policy = False
    for name, value in headers:
        lowered = name.lower()
        if lowered in _OWN:
            continue  # set once, below
        if lowered == _CONTENT_TYPE:
            page = value.startswith(_HTML)
        elif lowered == _CSP:
            has_policy = True
        kept.append((name, value))
    kept += (NOSNIFF, NO_REFERRER)
    if not has_policy:
        kept.append((_CSP, PAGE_POLICY if page else OTHER_POLICY))
    return kept
