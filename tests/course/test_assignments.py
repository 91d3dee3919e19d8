"""The assignments' notebooks: the sources earn every point, the releases none, nothing is stale.

Each notebook is run once with nbgrader's own Execute preprocessor and scored with
nbgrader's own ``determine_grade`` (its Python API: ``nbgrader validate`` exits 0
even when cells fail). The oracle of each test cell is lstm_course.grading, tested
in test_grading.py; here the question is whether the notebooks are wired right (their
visible checks: the hidden ones run outside the notebook, test_hostile_class.py).
"""

import re

import nbformat
import pytest
from nbgrader import utils
from nbgrader.preprocessors import ClearOutput, Execute

from conftest import ROOT

pytestmark = pytest.mark.slow

from lstm_course import generate as make_assignments

ASSIGNMENTS = make_assignments.ASSIGNMENTS


def execute(path):
    """The notebook at ``path``, run from its own folder as nbgrader runs it."""
    nb = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(path.parent)}}
    nb, resources = ClearOutput().preprocess(nb, resources)
    nb, _ = Execute(timeout=300).preprocess(nb, resources)
    return nb


def automatic_test_cells(nb):
    return [cell for cell in nb.cells if utils.is_grade(cell) and cell.cell_type == "code"]


def errors(nb):
    return [(output.ename, output.evalue) for cell in nb.cells if cell.cell_type == "code"
            for output in cell.outputs if output.output_type == "error"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_source_notebook_earns_every_point_without_an_error(assignment):
    nb = execute(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
    assert not errors(nb), errors(nb)
    tests = automatic_test_cells(nb)
    assert len(tests) >= 4, "an assignment has several graded parts"
    for cell in tests:
        score, max_score = utils.determine_grade(cell)
        assert score == max_score > 0, cell.metadata["nbgrader"]["grade_id"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_released_notebook_scores_zero_and_fails_only_with_not_implemented_error(assignment):
    nb = execute(ROOT / "exercises" / assignment / f"{assignment}.ipynb")
    for cell in automatic_test_cells(nb):
        assert utils.determine_grade(cell)[0] == 0, cell.metadata["nbgrader"]["grade_id"]
    assert {name for name, _ in errors(nb)} == {"NotImplementedError"}, errors(nb)


def test_the_committed_notebooks_are_what_the_sources_make():
    stale = make_assignments.stale_files(ASSIGNMENTS)
    assert not stale, f"stale (run `make assignments`): {stale}"


def solution_lines(assignment):
    """Lines of the instructor's answers long enough to be telling, and the hidden tests' lines."""
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    lines = set()
    for cell in source.cells:
        metadata = cell.metadata.get("nbgrader", {})
        regions = re.findall(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)(.*?)### END", cell.source, re.S)
        if metadata.get("solution") and cell.cell_type == "markdown":
            regions.append(cell.source)  # a written answer: the whole cell is the model answer
        for region in regions:
            lines.update(line.strip() for line in region.splitlines() if len(line.strip()) >= 20)
    return lines


HANDS_OUT = make_assignments.HANDS_OUT  # a3's set-up gives a2's answer, on purpose; no other does


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_solution_or_hidden_test_is_released(assignment):
    """Neither this assignment's nor another's: the classroom edition shows every released notebook."""
    released = (ROOT / "exercises" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8")
    text = "\n".join(cell.source for cell in nbformat.reads(released, as_version=4).cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    for source in ASSIGNMENTS:
        leaked = [line for line in solution_lines(source) if line in text]
        if source in HANDS_OUT.get(assignment, ()):
            assert leaked, f"{assignment} is said to hand out {source}'s answer: the test is out of date"
        else:
            assert not leaked, (source, leaked)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_worked_solutions_have_no_hidden_tests_markers_or_metadata(assignment):
    worked = nbformat.read(ROOT / "worked" / f"{assignment}.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in worked.cells)
    assert "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "grade(" not in text.replace("estimate_growth_factor", "")
    assert not any("nbgrader" in cell.metadata for cell in worked.cells)
    # ... and every answer is there: each graded function is defined.
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in source.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            name = re.search(r"^(?:def|class) (\w+)", cell.source, re.M).group(1)
            assert re.search(rf"^(?:def|class) {name}\b", text, re.M), name


def test_the_source_format_rejects_a_test_without_points():
    with pytest.raises(ValueError, match="needs points"):
        make_assignments.parse_source("```python test id=test_x\ncheck('x', x)\n```\n")
