"""Text fields refuse characters that XML 1.0, spreadsheets or an ERP cannot carry."""

from __future__ import annotations

import pytest

from domain.values import InvalidValueError, text


@pytest.mark.parametrize(
    "bad",
    [
        "MAT\uffffWAIT",  # non-character: not allowed in XML 1.0
        "MAT\ufffeWAIT",
        "MAT\x85WAIT",  # C1 control (NEL)
        "MAT\x9bWAIT",  # C1 control (CSI)
        "MAT\ud800WAIT",  # lone surrogate
        "MAT\u202eTIAW",  # right-to-left override
        "MAT\u2066WAIT",  # left-to-right isolate
        "MAT\ufeffWAIT",  # byte-order mark
        "MAT\U0010ffffWAIT",  # non-character of the last plane
    ],
)
def test_a_text_field_with_a_character_xml_cannot_carry_is_refused_naming_it(bad: str) -> None:
    for max_len in (60, 1000):
        with pytest.raises(InvalidValueError) as caught:
            text("reason_code", bad, max_len=max_len)
        assert caught.value.field == "reason_code"
        assert f"U+{ord(bad[3]):04X} at position 4" in str(caught.value)


def test_identifiers_refuse_invisible_characters_that_free_text_keeps() -> None:
    for invisible in ("\u200b", "\u200c", "\u200d", "\u200e", "\u00ad"):
        with pytest.raises(InvalidValueError, match="U\\+"):
            text("order_no", f"WO{invisible}1", max_len=80)
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # an emoji needs its joiners
    assert text("note", f"shift handover {family}", max_len=1000).endswith(family)


def test_ordinary_text_in_any_script_is_kept() -> None:
    for ok in ("Café-Ölpumpe", "旋盘 10", "Δ 0.2 mm", "tab\tseparated"):
        assert text("description", ok, max_len=400) == ok
