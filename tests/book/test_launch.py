"""Where the book runs besides its pages: the chapters' .ipynb counterparts and their
install cell, a class's JupyterHub button, and the GitHub workflows.

(The launch buttons of the full build are checked in test_book.py, which builds it;
the counterparts and the Binder environment are run in test_fresh_environments.py.)
"""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import ROOT, copy_checkout
from launch import check_opens, launch_buttons, linked_path, read_config
from lstm_course.install_cell import SOURCE_VARIABLE, install_cell, release_source

BIN = Path(sys.executable).parent


def test_the_chapters_counterparts_are_up_to_date(tmp_path):
    """notebooks/ is what tools/notebooks.py writes from today's sources: run `make notebooks`."""
    subprocess.run([sys.executable, str(ROOT / "tools" / "notebooks.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True, text=True)
    committed, generated = (
        {path.relative_to(folder): path.read_bytes() for path in folder.rglob("*") if path.is_file()}
        for folder in (ROOT / "notebooks", tmp_path))
    stale = sorted(str(name) for name in committed.keys() | generated.keys()
                   if committed.get(name) != generated.get(name))
    assert generated and not stale, f"notebooks/ is stale (run `make notebooks`): {stale}"


def test_every_counterpart_opens_with_the_install_cell_hidden_from_the_pages():
    counterparts = sorted((ROOT / "notebooks").rglob("*.ipynb"))
    assert {p.relative_to(ROOT / "notebooks").with_suffix(".md") for p in counterparts} == {
        p.relative_to(ROOT) for p in (ROOT / "chapters").glob("*.md")}
    for path in counterparts:
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.cell_type == "code" and first.metadata["tags"] == ["remove-cell"], path
        assert f'"{release_source(ROOT)}"' in first.source and SOURCE_VARIABLE in first.source, path


def test_the_release_source_is_the_repository_at_the_version_tag():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert release_source(ROOT) == f"git+{config['repository']['url']}@v{version}"


def run_cell(cell, tmp_path, source):
    """Run an install cell's code in a fresh interpreter, its pip source set to ``source``."""
    env = {**os.environ, SOURCE_VARIABLE: source, "PIP_RETRIES": "0"}
    return subprocess.run([sys.executable, "-c", cell.source], cwd=tmp_path, env=env, capture_output=True, text=True)


def test_the_install_cell_does_nothing_where_the_modules_import(tmp_path):
    # A source pip cannot install from: the cell would fail if it tried.
    result = run_cell(install_cell("lab", ["json", "lstm_ref"], "unused"), tmp_path, (tmp_path / "nothing").as_uri())
    assert result.returncode == 0 and not result.stdout and not result.stderr, result


def test_the_install_cell_installs_from_the_overriding_source_when_a_module_is_missing(tmp_path):
    result = run_cell(install_cell("lab", ["json", "no_such_module"], "unused"), tmp_path, (tmp_path / "nothing").as_uri())
    assert result.returncode != 0 and "CalledProcessError" in result.stderr
    assert f"lstm-course[lab] @ {(tmp_path / 'nothing').as_uri()}" in result.stderr


@pytest.mark.parametrize("modules", [[], ["lstm-labs"], "lstm_labs"])
def test_the_install_cell_wants_module_names(modules):
    with pytest.raises(ValueError, match="modules must be a non-empty list of module names"):
        install_cell("lab", modules, "unused")


@pytest.mark.slow
def test_a_hub_address_adds_an_nbgitpuller_button_to_every_notebook_page(tmp_path):
    """With launch_buttons.jupyterhub_url set, each notebook page gets a JupyterHub button
    whose nbgitpuller link opens the page's file in the clone on the hub."""
    source = copy_checkout(tmp_path / "checkout")
    config = read_config(source)
    config["launch_buttons"]["jupyterhub_url"] = "https://hub.example.edu"
    config["execute"]["execute_notebooks"] = "off"  # the links only: nothing to run
    (source / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    pages = ["chapters/01_recurrent_networks", "exercises/a1_rnn_bptt/a1_rnn_bptt"]
    toc = {"format": "jb-book", "root": "intro", "chapters": [{"file": page} for page in pages]}
    (source / "_toc.yml").write_text(yaml.safe_dump(toc), encoding="utf-8")
    result = subprocess.run([str(BIN / "jupyter-book"), "build", str(source), "--path-output", str(tmp_path / "out")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    html_dir = tmp_path / "out" / "_build" / "html"
    for page in pages:
        buttons = dict(launch_buttons(html_dir / f"{page}.html"))
        assert sorted(buttons) == ["Binder", "Colab", "JupyterHub"], (page, buttons)
        path = linked_path("JupyterHub", buttons["JupyterHub"], config)
        check_opens("JupyterHub", path, source)
        assert Path(path).with_suffix("") == Path(page)


def test_the_workflows_pass_actionlint():
    result = subprocess.run([str(BIN / "actionlint"), "-no-color"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def read_workflow(name):
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))
    return workflow[True] if True in workflow else workflow["on"], workflow  # YAML reads a bare `on` as True


def test_ci_runs_the_ci_script_on_pushes_and_pull_requests():
    triggers, workflow = read_workflow("ci.yml")
    assert {"push", "pull_request"} <= set(triggers)
    steps = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert "bash .ci/run" in steps


def test_pages_publishes_the_self_study_edition_and_keeps_the_classroom_edition():
    triggers, workflow = read_workflow("pages.yml")
    assert triggers["push"]["branches"] == ["main"]
    steps = workflow["jobs"]["build"]["steps"]
    runs = [step.get("run") for step in steps]
    assert runs.index("make book") < runs.index("make classroom")
    uploads = {step["uses"].split("@")[0]: step.get("with", {}) for step in steps if "uses" in step}
    assert uploads["actions/upload-pages-artifact"]["path"] == "_build/html"
    assert uploads["actions/upload-artifact"]["path"] == "_build/classroom/_build/html"
    deploy = [step["uses"].split("@")[0] for step in workflow["jobs"]["deploy"]["steps"]]
    assert deploy == ["actions/deploy-pages"]
