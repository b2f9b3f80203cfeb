"""A unit conversion factor must be more than 0: a factor of 0 would record reports as 0."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvalidValueError
from domain.values import factor


@pytest.mark.parametrize("value", ["0", "0.000", 0, "-1"])
def test_a_unit_factor_of_zero_or_less_is_refused_naming_field_and_value(value: object) -> None:
    with pytest.raises(InvalidValueError) as err:
        factor("unit_factors.box", value)
    assert "unit_factors.box" in str(err.value)
    assert str(value) in str(err.value)


def test_a_fine_positive_factor_is_kept() -> None:
    assert factor("unit_factors.lb", "0.45359237") == Decimal("0.45359237")
