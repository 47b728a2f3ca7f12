"""Categories: creation, renaming, name rules and the events they record."""

from __future__ import annotations

import pytest

from catalog.domain.category import MAX_NAME, Category
from catalog.domain.errors import InvalidInput
from catalog.domain.events import CategoryCreated, CategoryRenamed


def test_create_records_category_created_at_version_one() -> None:
    category = Category.create("c1", "  Kitchen & Dining ", "root")

    assert (category.id, category.name, category.slug, category.parent_id) == (
        "c1",
        "Kitchen & Dining",
        "kitchen-dining",
        "root",
    )
    assert category.version == 1
    [pending] = category.collect()
    assert pending.aggregate_version == 1
    assert pending.event == CategoryCreated(
        aggregate_id="c1", name="Kitchen & Dining", slug="kitchen-dining", parent_id="root"
    )
    assert pending.event.aggregate_type == "category"


def test_create_a_root_category_has_no_parent() -> None:
    category = Category.create("c1", "Books", None)
    [pending] = category.collect()
    assert isinstance(pending.event, CategoryCreated)
    assert pending.event.parent_id is None


def test_rename_records_the_new_name_and_slug_at_the_next_version() -> None:
    category = Category.create("c1", "Books", None)
    category.rename("Rare Books")
    category.rename("Comics")

    assert (category.name, category.slug, category.version) == ("Comics", "comics", 3)
    events = category.collect()
    assert [p.aggregate_version for p in events] == [1, 2, 3]
    assert events[1].event == CategoryRenamed(
        aggregate_id="c1", name="Rare Books", slug="rare-books"
    )
    assert events[2].event == CategoryRenamed(aggregate_id="c1", name="Comics", slug="comics")
    assert category.collect() == []


def test_collect_continues_versions_from_a_loaded_category() -> None:
    category = Category("c1", "Books", "books", None, version=7)
    category.rename("Novels")
    [pending] = category.collect()
    assert pending.aggregate_version == 8
    assert category.version == 8


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_create_rejects_an_empty_name(name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Category.create("c1", name, None)
    assert err.value.field == "name"


def test_name_holds_at_most_120_characters() -> None:
    assert Category.create("c1", "n" * MAX_NAME, None).name == "n" * MAX_NAME
    with pytest.raises(InvalidInput, match="at most 120"):
        Category.create("c1", "n" * (MAX_NAME + 1), None)


def test_create_rejects_control_characters_in_the_name() -> None:
    with pytest.raises(InvalidInput, match="control"):
        Category.create("c1", "Bo\x00oks", None)


@pytest.mark.parametrize("name", ["", " ", "n" * (MAX_NAME + 1), "a\x1bb"])
def test_a_rejected_rename_changes_nothing_and_records_nothing(name: str) -> None:
    category = Category("c1", "Books", "books", None, version=3)
    with pytest.raises(InvalidInput):
        category.rename(name)
    assert (category.name, category.slug, category.version) == ("Books", "books", 3)
    assert category.collect() == []


def test_slug_falls_back_when_the_name_has_no_ascii_letters() -> None:
    assert Category.create("c1", "家具", None).slug == "category"
