"""What the chapters' sources promise the reader, checked without building the book."""

import re

from conftest import ROOT

CODE_CELL = re.compile(r"^```\{code-cell\} ipython3\n(.*?)^```\n", re.S | re.M)


def test_code_cells_cite_equations_as_the_page_shows_them():
    """A comment or a printed line says (4.3), not the label eq-bptt-dh the reader never sees."""
    cited = {}
    for chapter in sorted((ROOT / "chapters").glob("*.md")):
        for cell in CODE_CELL.findall(chapter.read_text(encoding="utf-8")):
            labels = re.findall(r"\beq-[a-z0-9-]+", cell)
            if labels:
                cited[chapter.name] = sorted(set(labels))
    assert not cited, f"equation labels in code cells: {cited}"
