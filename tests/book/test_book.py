"""The book builds warning-free from a clean checkout, in both editions.

One build of each edition serves every test here: the self-study edition executes
every chapter (so a chapter that raises fails the build, and this test), and the
classroom edition reuses its execution cache. Both go to a temporary folder, so
the developer's own _build is never touched.
"""

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lstm_course.generate import HANDS_OUT
from conftest import ROOT, copy_checkout
from launch import check_opens, launch_buttons, linked_path, read_config

pytestmark = pytest.mark.slow

JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"
BUILD_FLAGS = ["-W", "-n", "--keep-going"]
# Sphinx's warnings read "<where>: WARNING: <what>"; with -W each also fails the build.
SPHINX_WARNING = re.compile(r": WARNING: ")
# A solution admonition from sphinx-exercise carries this class in the HTML.
SOLUTION_CLASS = re.compile(r'class="[^"]*\bsolution\b')


def _build(source, output, *extra):
    result = subprocess.run(
        [str(JUPYTER_BOOK), "build", str(source), *BUILD_FLAGS, "--path-output", str(output), *extra],
        capture_output=True, text=True,
    )
    return result, output / "_build" / "html"


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    """Build the self-study edition, then the classroom edition, from a clean copy."""
    source = copy_checkout(tmp_path_factory.mktemp("checkout"))
    full, full_html = _build(source, tmp_path_factory.mktemp("full"))
    cache = full_html.parent / ".jupyter_cache"
    classroom_dir = tmp_path_factory.mktemp("classroom")
    config = subprocess.run(
        [sys.executable, str(source / "tools" / "classroom_config.py"), "--cache", str(cache)],
        capture_output=True, text=True, check=True,
    ).stdout
    (classroom_dir / "_config.yml").write_text(config, encoding="utf-8")
    classroom, classroom_html = _build(
        source, classroom_dir, "--toc", str(source / "_toc_classroom.yml"),
        "--config", str(classroom_dir / "_config.yml"),
    )
    return {"source": source, "full": (full, full_html), "classroom": (classroom, classroom_html)}


def toc_files(toc_path):
    """Every document of a jb-book table of contents, the root first, without suffix."""
    toc = yaml.safe_load(Path(toc_path).read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return [str(Path(name).with_suffix("")) for name in files]


def page_text(path):
    """The visible text of an HTML page: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def _report(result):
    return f"exit {result.returncode}\n--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"


def test_self_study_edition_builds_without_warnings(books):
    result, _ = books["full"]
    assert result.returncode == 0, _report(result)
    assert not SPHINX_WARNING.search(result.stderr), _report(result)


def test_classroom_edition_builds_without_warnings(books):
    result, _ = books["classroom"]
    assert result.returncode == 0, _report(result)
    assert not SPHINX_WARNING.search(result.stderr), _report(result)


@pytest.mark.parametrize("edition, toc", [("full", "_toc.yml"), ("classroom", "_toc_classroom.yml")])
def test_every_toc_page_is_in_the_html(books, edition, toc):
    _, html_dir = books[edition]
    missing = [name for name in toc_files(ROOT / toc) if not (html_dir / f"{name}.html").is_file()]
    assert not missing, f"pages listed in {toc} but not built: {missing}"


def test_no_executed_cell_shows_an_error(books):
    _, html_dir = books["full"]
    broken = [str(page.relative_to(html_dir)) for page in html_dir.rglob("*.html")
              if 'class="output traceback' in page.read_text(encoding="utf-8")]
    assert not broken, f"pages with an error in an executed cell: {broken}"


def test_every_launch_button_opens_a_file_of_the_repository(books):
    """Each launch button of each page leads to this repository, to a file that its
    service opens as a notebook; and with no hub address set, there is no hub button."""
    _, html_dir = books["full"]
    source = books["source"]
    config = read_config(source)
    assert not config["launch_buttons"].get("jupyterhub_url")
    checked = {}
    for page in sorted(html_dir.rglob("*.html")):
        for name, url in launch_buttons(page):
            path = linked_path(name, url, config)
            check_opens(name, path, source)
            checked.setdefault(name, []).append(path)
    assert sorted(checked) == ["Binder", "Colab"], f"launch buttons found: {sorted(checked)}"
    # Every page from a notebook has them: every chapter, and every released notebook.
    notebook_pages = {f"{name}.md" for name in toc_files(source / "_toc.yml") if name.startswith("chapters/")}
    notebook_pages |= {str(p.relative_to(source)) for p in (source / "exercises").glob("*/*.ipynb")}
    assert notebook_pages <= set(checked["Binder"]), f"pages without a Binder button: {notebook_pages - set(checked['Binder'])}"
    assert len(checked["Colab"]) == len(checked["Binder"])


def test_the_labs_leave_no_progress_bar_in_their_pages(books):
    _, html_dir = books["full"]
    for chapter in ("06_lab_weather", "07_lab_long_range", "10_lstm_in_practice"):
        page = (html_dir / "chapters" / f"{chapter}.html").read_text(encoding="utf-8")
        assert "widget-view" not in page and "it/s]" not in page, f"{chapter}: a progress bar is in the page"


def test_every_page_names_the_licences(books):
    _, html_dir = books["full"]
    for page in html_dir.rglob("*.html"):
        html_text = page.read_text(encoding="utf-8")
        if page.relative_to(html_dir).parts[0] in ("_static", "_sources", "reports") or 'http-equiv="Refresh"' in html_text:
            continue  # not a page of the book: static files, execution reports, the root's redirect
        text = page_text(page)
        assert "CC BY 4.0" in text and "MIT License" in text, f"{page.relative_to(html_dir)}: no licence in the footer"


def test_editions_differ_only_by_worked_solutions():
    full = toc_files(ROOT / "_toc.yml")
    classroom = toc_files(ROOT / "_toc_classroom.yml")
    assert classroom == [name for name in full if not name.startswith("worked/")]


def test_self_study_edition_shows_chapter_solutions(books):
    """The positive control for the classroom check below: solutions do exist."""
    _, html_dir = books["full"]
    if not any(re.search(r"```\{solution\}|:::\{solution\}", p.read_text(encoding="utf-8"))
               for p in (ROOT / "chapters").glob("*.md")):
        pytest.skip("no chapter has a {solution} yet")
    assert any(SOLUTION_CLASS.search(p.read_text(encoding="utf-8")) for p in html_dir.rglob("*.html"))


def test_classroom_edition_contains_no_solution(books):
    _, html_dir = books["classroom"]
    pages = list(html_dir.rglob("*.html"))
    with_solutions = [str(p.relative_to(html_dir)) for p in pages
                      if SOLUTION_CLASS.search(p.read_text(encoding="utf-8"))]
    assert not with_solutions, f"classroom pages with a solution block: {with_solutions}"
    assert not (html_dir / "worked").exists(), "worked solutions were built into the classroom edition"
    # A page's source holds its exercise solutions, so no source may be published either.
    assert not (html_dir / "_sources").exists(), "the classroom edition publishes page sources"
    text_files = [p for p in html_dir.rglob("*") if p.suffix in (".html", ".js", ".md", ".ipynb", ".txt")]
    with_directive = [str(p.relative_to(html_dir)) for p in text_files
                      if "{solution}" in p.read_text(encoding="utf-8", errors="replace")]
    assert not with_directive, f"classroom files holding a solution directive: {with_directive}"

    # No line of an assignment's solution regions may appear on an assignment page (its own
    # or another's: a later assignment must not hand out an earlier one's answer, but for the
    # one it hands out on purpose, HANDS_OUT). The chapters are not searched: they teach each
    # equation with the code that computes it.
    solution_lines = {}
    for notebook in (ROOT / "solutions").glob("*/*.ipynb"):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            for region in re.findall(r"### BEGIN SOLUTION(.*?)### END SOLUTION", source, re.S):
                for line in region.splitlines():
                    if len(line.strip()) >= 25:
                        solution_lines[line.strip()] = notebook.stem
    assignment_pages = [p for p in pages if p.relative_to(html_dir).parts[0] not in ("chapters", "_static")]
    assert any(p.relative_to(html_dir).parts[0] == "exercises" for p in assignment_pages)
    leaked = {}
    for page in assignment_pages:
        text = page_text(page)
        allowed = {given for page_of, givens in HANDS_OUT.items() if page_of in page.name for given in givens}
        found = [f"{line}  (from {source})" for line, source in solution_lines.items()
                 if line in text and source not in allowed]
        if found:
            leaked[str(page.relative_to(html_dir))] = found[:3]
    assert not leaked, f"solution code in the classroom edition: {leaked}"


CHROMIUM = Path("/usr/bin/chromium")
MATHJAX = ROOT / "_build" / "mathjax-3.2.2.tgz"


def test_every_page_passes_the_browser_check(books):
    """tools/check_pages.py in Chromium at 1280 and 390 px: no clipped equation, no visible
    assert or glue, no printed build timing, alt text and legible text on every figure, no
    console error, no broken link, no page much longer than 15 screens (make check-pages)."""
    assert CHROMIUM.exists() and MATHJAX.exists(), "run `make browser` first (chromium and MathJax 3)"
    _, html_dir = books["full"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_pages.py"), "--html", str(html_dir),
         "--toc", str(ROOT / "_toc.yml"), "--mathjax", str(MATHJAX), "--verbose"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
