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


def test_book_configurations_name_each_key_once():
    """YAML keeps the last of two equal keys without a word: a second `local_extensions` once
    dropped the first extension, and with it the fix for a script every page declared twice."""
    import yaml

    class UniqueKeys(yaml.SafeLoader):
        pass

    def mapping(loader, node):
        keys = [loader.construct_object(key) for key, _ in node.value]
        repeated = sorted({str(key) for key in keys if keys.count(key) > 1})
        assert not repeated, f"line {node.start_mark.line + 1}: keys given twice: {repeated}"
        return loader.construct_mapping(node)

    UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    for name in ("_config.yml", "_toc.yml", "_toc_classroom.yml"):
        yaml.load((ROOT / name).read_text(encoding="utf-8"), Loader=UniqueKeys)
