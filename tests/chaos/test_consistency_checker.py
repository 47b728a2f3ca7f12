"""The history checker finds what it is there to find: hand-made histories that break
each guarantee must fail, and a history that keeps them all must pass."""

from __future__ import annotations

from tests.support.consistency import Op, check, classify, tally


def _write(session: str, kind: str, target: str, version: int, value: object, at: float) -> Op:
    return Op(
        session, kind, target, start=at, end=at + 0.1, status=200, version=version, value=value
    )


def _read(
    session: str,
    kind: str,
    target: str,
    at: float,
    read_version: int,
    document: object,
    min_version: int = 0,
    status: int = 200,
) -> Op:
    return Op(
        session,
        kind,
        target,
        start=at,
        end=at + 0.1,
        status=status,
        min_version=min_version,
        read_version=read_version,
        document=document,
    )


def _good() -> list[Op]:
    return [
        _write("setup", "create", "p1", 10, "5.00", 0),
        _write("s1", "price", "p1", 20, "7.50", 1),
        _read("s1", "product", "p1", 2, 20, {"price": "7.50", "version": 2}, min_version=10),
        _read("s2", "product", "p1", 2, 15, {"price": "5.00", "version": 1}, min_version=10),
        _read("s2", "product", "p1", 3, 25, {"price": "7.5", "version": 2}, min_version=15),
    ]


def test_a_history_that_keeps_every_guarantee_passes() -> None:
    assert check(_good()) == []


def test_a_read_missing_the_sessions_own_write_fails() -> None:
    ops = [*_good(), _read("s1", "product", "p1", 4, 18, {"price": "5.00", "version": 1})]
    problems = check(ops)
    assert any("misses own write at 20" in p for p in problems), problems


def test_a_read_below_its_min_version_fails() -> None:
    ops = [*_good(), _read("s3", "stats", "c1", 4, 9, {}, min_version=12)]
    assert any("below min_version 12" in p for p in check(ops))


def test_reads_going_back_in_one_session_fail() -> None:
    ops = [
        *_good(),
        _read("s2", "product", "p1", 5, 26, {"price": "7.50", "version": 2}, min_version=0),
        _read("s2", "product", "p1", 6, 24, {"price": "7.50", "version": 2}, min_version=0),
    ]
    assert any("went back" in p for p in check(ops))


def test_a_product_document_going_back_fails() -> None:
    ops = [
        *_good(),
        _read("s2", "product", "p1", 5, 30, {"price": "7.50", "version": 2}),
        _read("s2", "product", "p1", 6, 31, {"price": "7.50", "version": 1}),
    ]
    assert any("document version 1 went back" in p for p in check(ops))


def test_an_acknowledged_price_not_visible_at_its_version_fails() -> None:
    ops = [*_good(), _read("s2", "product", "p1", 5, 21, {"price": "5.00", "version": 1})]
    problems = check(ops)
    assert any("acknowledged write at 20 set 7.50" in p for p in problems), problems


def test_a_price_newer_than_the_read_version_is_allowed() -> None:
    later = _write("s3", "price", "p1", 30, "8.25", 4)
    ops = [*_good(), later, _read("s4", "product", "p1", 5, 21, {"price": "8.25", "version": 3})]
    assert check(ops) == []


def test_a_price_from_an_unanswered_write_is_allowed() -> None:
    lost = Op("s3", "price", "p1", start=1.5, end=1.6, status=None, error="timeout", value="9.00")
    ops = [*_good(), lost, _read("s2", "product", "p1", 5, 22, {"price": "9.00", "version": 3})]
    problems = check(ops)
    assert not any("price 9.00" in p for p in problems)
    assert any("no answer (timeout)" in p for p in problems)


def test_a_search_item_with_a_stale_price_fails() -> None:
    doc = {"items": [{"id": "p1", "price": "5.00"}]}
    ops = [*_good(), _read("s2", "search", "c1", 5, 40, doc)]
    assert any("item p1: price 5.00" in p for p in check(ops))


def test_a_404_for_what_the_floor_says_exists_fails() -> None:
    ops = [*_good(), _read("s2", "product", "p1", 5, 0, None, min_version=12, status=404)]
    assert any("404 though created at 10" in p for p in check(ops))


def test_a_cart_missing_an_acknowledged_line_fails() -> None:
    ops = [
        _write("s1", "cart_add", "c1", 30, ("p1", 2), 1),
        _read("s1", "cart", "c1", 2, 31, {"lines": []}),
    ]
    assert any("acknowledged {'p1': 2}" in p for p in check(ops))


def test_an_order_with_another_total_fails() -> None:
    read = _read("s1", "order", "o1", 2, 41, {"total": "12.00"})
    read.value = "15.00"
    ops = [_write("s1", "checkout", "o1", 40, "15.00", 1), read]
    assert any("checkout said 15.00" in p for p in check(ops))


def test_server_errors_hangs_and_bare_503s_fail() -> None:
    assert classify(500, None, None) == "status 500"
    assert classify(502, None, None) == "status 502"
    assert classify(503, None, None) == "503 without Retry-After"
    assert classify(None, "timeout: ReadTimeout", None) == "no answer (timeout: ReadTimeout)"
    assert classify(503, None, "1") is None
    assert classify(409, None, None) is None


def test_a_command_retried_through_503s_passes_but_one_never_accepted_fails() -> None:
    retried = _write("s1", "price", "p1", 20, "7.50", 1)
    retried.attempts = [(503, None, "1"), (200, None, None)]
    given_up = Op("s1", "stock", "p1", start=3, end=4, status=503, retry_after="1")
    given_up.attempts = [(503, None, "1"), (503, None, None)]
    problems = check([_write("setup", "create", "p1", 10, "5.00", 0), retried, given_up])
    assert any("never accepted" in p for p in problems)
    assert any("503 without Retry-After" in p for p in problems)
    assert not any("price" in p for p in problems)
    assert tally([retried, given_up])["command retries after 503"] == 2
