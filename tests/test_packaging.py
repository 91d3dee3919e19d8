"""The distribution installs as a wheel holding its three packages (with their data); lstm_ref
imports from there alone."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (built,) = out.glob("lstm_course-*.whl")
    return built


@pytest.mark.parametrize("package", ["lstm_ref", "lstm_labs", "lstm_course"])
def test_wheel_holds_every_file_of_each_package(wheel, package):
    in_source = {str(p.relative_to(ROOT)) for pattern in ("*.py", "*.md", "*.json")
                 for p in (ROOT / package).rglob(pattern) if "__pycache__" not in p.parts}
    in_wheel = {name for name in zipfile.ZipFile(wheel).namelist() if name.startswith(f"{package}/")}
    assert in_source and in_source <= in_wheel, f"missing from the wheel: {sorted(in_source - in_wheel)}"


def test_import_from_the_installed_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True, capture_output=True, text=True,
    )
    # -I: ignore PYTHONPATH and the current folder, so the source tree cannot be found.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import lstm_ref, lstm_ref.rnn, lstm_ref.lstm; "
        "print(lstm_ref.__file__); print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-I", "-c", probe, str(site)], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    location, heavy = result.stdout.splitlines()
    assert Path(location).is_relative_to(site), f"imported from {location}, not from the wheel"
    assert heavy == "False False", "import lstm_ref must not pull in torch or matplotlib"
