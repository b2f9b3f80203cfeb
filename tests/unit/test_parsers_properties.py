"""Property: whatever text the ERP puts in a CSV cell, the parser gives it back unchanged."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.inbound.parsers import parse_csv
from adapters.mapping import Record

cell = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\x85\u2028\u2029"
    ),
    max_size=20,
).map(str.strip)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(cell, cell, cell), min_size=1, max_size=8),
    st.sampled_from([",", ";", "|", "\t"]),
)
def test_every_csv_row_written_by_a_csv_writer_reads_back_with_its_line_number(
    rows: list[tuple[str, str, str]], delimiter: str
) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["a", "b", "c"])
    writer.writerows(rows)
    items = list(parse_csv(buf.getvalue().encode(), delimiter=delimiter))
    expected = [r for r in rows if any(r)]
    lines = [n + 2 for n, r in enumerate(rows) if any(r)]
    assert all(isinstance(i, Record) for i in items)
    assert [i.row for i in items] == lines
    assert [
        (i.data["a"], i.data["b"], i.data["c"]) for i in items if isinstance(i, Record)
    ] == expected
