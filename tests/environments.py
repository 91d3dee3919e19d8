"""Fresh virtual environments, made as a new user's machine would have them.

Each holds nothing but what a test installs with pip, so a test sees what a Colab
runtime, a Binder image or a student's `pip install` would. pip installs with the
repository's constraints.txt, so PyTorch is the pinned CPU-only build (on the course's
machines a local wheel; elsewhere PIP_EXTRA_INDEX_URL names PyTorch's CPU index),
and with pip's cache, so a second environment costs little.
"""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

from conftest import ROOT

RUN_NOTEBOOK = Path(__file__).with_name("run_notebook.py")
# What a Jupyter front end brings along in every one of these places (Colab, a Binder
# image, a hub): a kernel, and the library that executes notebooks.
JUPYTER = ["ipykernel", "nbclient"]


def fresh_environment(folder):
    """Create a virtual environment with pip in ``folder``; return its Python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    return Path(folder) / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def user_env(home, **extra):
    """The environment variables of a user whose home is ``home``: nothing of this
    repository's environment (no PYTHONPATH, no virtual environment, no Jupyter
    settings), pip pinned by constraints.txt."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith("JUPYTER")}
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
               JUPYTER_DATA_DIR=str(home / ".local/share/jupyter"), PIP_CONSTRAINT=str(ROOT / "constraints.txt"),
               PIP_DISABLE_PIP_VERSION_CHECK="1",
               # No .pyc files at install time (Python writes them as it imports): faster here.
               PIP_NO_COMPILE="1")
    env.update(extra)
    return env


def run(command, env, cwd, timeout=900):
    """Run ``command``; fail with its output unless it exits 0; return its stdout."""
    result = subprocess.run([str(part) for part in command], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, (f"{' '.join(map(str, command))} exited {result.returncode}\n"
                                    f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-6000:]}")
    return result.stdout


def pip_install(python, *arguments, env, cwd):
    return run([python, "-m", "pip", "install", "--quiet", *arguments], env=env, cwd=cwd)


def install_jupyter(python, *extra, env, cwd):
    """Install JUPYTER (and ``extra``) with uv, which `make` installs beside the test
    suite: what a service brings along is not under test, so seconds instead of pip's half minute."""
    uv = Path(sys.executable).parent / "uv"
    return run([uv, "pip", "install", "--quiet", "--python", python, "-c", ROOT / "constraints.txt", *JUPYTER, *extra],
               env=env, cwd=cwd)


def execute_notebook(python, notebook, env, cwd, jupytext_root=None, probe="lstm_labs", allow_errors=False):
    """Execute ``notebook`` with ``python``'s own kernel, its working folder ``cwd``; return
    where the kernel's Python and ``probe`` were (``prefix``, ``probe``) and the names of
    the errors raised (with ``allow_errors``, every cell runs; otherwise the first stops it)."""
    command = [python, RUN_NOTEBOOK, notebook, "--cwd", cwd, "--probe", probe]
    if jupytext_root is not None:
        command += ["--jupytext", jupytext_root]
    if allow_errors:
        command.append("--allow-errors")
    return json.loads(run(command, env=env, cwd=cwd).strip().splitlines()[-1])


def is_inside(path, folder):
    return Path(path).resolve().is_relative_to(Path(folder).resolve())

