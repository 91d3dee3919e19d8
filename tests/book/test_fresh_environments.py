"""The chapters run where their launch buttons open them, each in a fresh environment.

- Colab: a chapter's .ipynb counterpart, in an environment with a kernel and nothing of
  the course, installs the course through its own first cell (pointed at this checkout
  instead of the release on GitHub) and runs to the end.
- Binder: the environment binder/requirements.txt describes, built as repo2docker builds
  it, opens a chapter's Markdown through jupytext and runs it to the end; postBuild
  makes JupyterLab open Markdown as a notebook.
"""

import json

import pytest

from conftest import copy_checkout
from environments import execute_notebook, fresh_environment, install_jupyter, is_inside, pip_install, run, user_env

pytestmark = pytest.mark.slow

COLAB_CHAPTER = "notebooks/chapters/01_recurrent_networks.ipynb"
BINDER_CHAPTER = "chapters/04_bptt.md"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    return copy_checkout(tmp_path_factory.mktemp("checkout"))


def test_a_chapter_counterpart_installs_the_course_and_runs_on_a_bare_kernel(checkout, tmp_path):
    python = fresh_environment(tmp_path / "colab")
    env = user_env(tmp_path / "home", LSTM_COURSE_SOURCE=checkout.as_uri())
    install_jupyter(python, env=env, cwd=tmp_path)
    missing = run([python, "-c", "import importlib.util as u; print(u.find_spec('lstm_labs'), u.find_spec('lstm_ref'))"],
                  env=env, cwd=tmp_path)
    assert missing.split() == ["None", "None"], "the fresh environment already has the course"

    content = tmp_path / "content"  # Colab's working folder: the notebook alone, no repository
    content.mkdir()
    where = execute_notebook(python, checkout / COLAB_CHAPTER, env=env, cwd=content)
    assert is_inside(where["prefix"], tmp_path / "colab"), where
    assert is_inside(where["lstm_labs"], tmp_path / "colab"), f"the labs came from elsewhere: {where}"


def test_the_binder_environment_opens_a_chapter_through_jupytext_and_runs_it(checkout, tmp_path):
    python = fresh_environment(tmp_path / "binder")
    home = tmp_path / "home"
    # PyTorch's CPU index, which the file names, is out of reach here: no retrying it.
    env = user_env(home, PATH=f"{python.parent}:{user_env(home)['PATH']}", PIP_RETRIES="0")
    # repo2docker's base image has Jupyter; it then installs the file, with pip, from the repository's root.
    install_jupyter(python, "jupyter_server", env=env, cwd=checkout)
    pip_install(python, "-r", "binder/requirements.txt", env=env, cwd=checkout)
    run([checkout / "binder" / "postBuild"], env=env, cwd=checkout)

    overrides = json.loads((home / ".jupyter/labconfig/default_setting_overrides.json").read_text(encoding="utf-8"))
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers.get("markdown") == "Jupytext Notebook", overrides

    where = execute_notebook(python, BINDER_CHAPTER, env=env, cwd=checkout / "chapters", jupytext_root=checkout)
    assert is_inside(where["prefix"], tmp_path / "binder"), where
    assert is_inside(where["lstm_labs"], tmp_path / "binder"), f"the labs came from elsewhere: {where}"
