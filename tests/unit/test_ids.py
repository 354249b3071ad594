"""Generated ids: prefixed, unique, and sorted by the time they were made."""

from __future__ import annotations

import time

from services.ids import new_id


def test_ids_made_later_sort_after_ids_made_earlier() -> None:
    earlier = [new_id("ord") for _ in range(500)]
    made_at = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 == made_at:  # ids carry milliseconds: cross one
        pass
    later = new_id("ord")
    assert all(made < later for made in earlier)


def test_an_id_is_its_prefix_and_26_lower_case_characters() -> None:
    made = new_id("cm")
    prefix, digits = made.split("_")
    assert prefix == "cm" and len(digits) == 26
    assert set(digits) <= set("0123456789abcdefghjkmnpqrstvwxyz")


def test_ids_made_in_the_same_millisecond_differ() -> None:
    assert len({new_id("rf") for _ in range(10_000)}) == 10_000
