"""A configured admin token is refused at start unless it is long and varied enough."""

from __future__ import annotations

import pytest

from catalog.settings import Settings, SettingsError

STRONG = "tdm_k3Jd9aZ-q81LmV0pXw2RtYb5NcE7uHs4"


@pytest.mark.parametrize(
    "weak",
    ["test-admin-token", "letmein", "a" * 64, "ab" * 32, "0123456789" * 4, "x" * 31 + "yz"],
    ids=["short", "word", "one-character", "two-characters", "ten-characters", "few-kinds"],
)
def test_a_weak_admin_token_is_refused_in_one_line_naming_the_setting(weak: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"TANDEM_ADMIN_TOKEN": weak})
    message = str(refused.value)
    assert message.startswith("TANDEM_ADMIN_TOKEN")
    assert "\n" not in message
    assert weak not in message


def test_a_token_with_spaces_or_control_characters_is_refused() -> None:
    for bad in (STRONG + " ", STRONG[:10] + "\x00" + STRONG[10:]):
        with pytest.raises(SettingsError):
            Settings.from_env({"TANDEM_ADMIN_TOKEN": bad})


def test_a_strong_admin_token_or_none_is_taken() -> None:
    assert Settings.from_env({"TANDEM_ADMIN_TOKEN": STRONG}).admin_token == STRONG
    assert Settings.from_env({}).admin_token is None
