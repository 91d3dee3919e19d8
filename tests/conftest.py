"""Shared fixtures: where the repository is, and a copy of it as a clean checkout."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def checkout_files():
    """The files a clean clone would have: tracked, plus new files not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def copy_checkout(destination):
    """Copy the repository as a clean checkout would have it into `destination`."""
    for name in checkout_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return destination


@pytest.fixture(scope="session")
def repo_root():
    return ROOT
