"""The checks of text and quantities give the same value or the same refusal however often a
spelling comes back (repeated values take a shorter path)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvalidValueError
from domain.values import quantity, text


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        ("  A-1 ", {}, "A-1"),
        ("a\tb", {}, "a\tb"),
        ("", {"required": False}, ""),
        ("x" * 20, {"max_len": 20}, "x" * 20),
        ("Gehäuse", {}, "Gehäuse"),
    ],
)
def test_text_gives_the_trimmed_value(value: str, kwargs: dict, expected: str) -> None:  # type: ignore[type-arg]
    assert text("f", value, **kwargs) == expected
    assert text("f", value, **kwargs) == expected


@pytest.mark.parametrize(
    ("value", "kwargs", "reason"),
    [
        ("   ", {}, "must not be empty"),
        ("x" * 21, {"max_len": 20}, "is longer than 20"),
        ("a\nb", {}, "contains control characters"),
        ("a\x7fb", {}, "contains control characters"),
        ("a\u202eb", {}, r"U\+202E"),
        (5, {}, "must be text"),
    ],
)
def test_text_refuses_the_same_way_every_time(value: object, kwargs: dict, reason: str) -> None:  # type: ignore[type-arg]
    for _ in range(2):
        with pytest.raises(InvalidValueError, match=reason) as caught:
            text("field", value, **kwargs)
        assert caught.value.field == "field"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5.0", "5"),
        (Decimal("5.0"), "5"),
        (Decimal("5"), "5"),
        ("0.50", "0.5"),
        (Decimal("-0"), "-0"),  # a spelling of its own: not taken for 0
        (Decimal("0"), "0"),
        (7, "7"),
        (0.1, "0.1"),
    ],
)
def test_quantity_gives_one_spelling_per_value(value: object, expected: str) -> None:
    assert str(quantity("q", value)) == expected
    assert str(quantity("q", value)) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [("-1", "is negative"), (True, "is not a number"), ("1.0000001", "decimal places"),
     (Decimal("NaN"), "finite"), ("1e12", "out of range")],
)  # fmt: skip
def test_quantity_refuses_the_same_way_every_time(value: object, reason: str) -> None:
    for _ in range(2):
        with pytest.raises(InvalidValueError, match=reason):
            quantity("quantity", value)
