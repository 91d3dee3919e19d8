"""What every lab run writes: a JSON of results with its provenance, and figures; and the
stored results of the full-scale runs that the chapters read."""

import json
import platform
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from lstm_ref._checks import check_choice


def provenance(device, started):
    """Versions, device and wall time of a run that began at ``time.perf_counter() == started``."""
    info = {
        "device": str(device),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "cpu_threads": torch.get_num_threads(),
        "wall_time_s": round(time.perf_counter() - started, 3),
    }
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def write_json(results, path):
    """Write ``results`` (plain Python values) as indented JSON; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # allow_nan=False: a NaN loss must fail here, not produce invalid JSON.
    path.write_text(json.dumps(results, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


def stored_run(name):
    """The compact results of a full-scale run, stored with the package: the file's name in
    ``lstm_labs/stored_runs`` without ``.json``, e.g. ``"weather_full"`` or ``"variants_full"``
    (each written by its lab's ``compact_results``).

    The chapters read them instead of running the full scale, which takes tens of
    minutes; they install with the package, so a notebook opened alone (Colab) finds them.
    """
    folder = resources.files("lstm_labs") / "stored_runs"
    names = sorted(entry.name.removesuffix(".json") for entry in folder.iterdir() if entry.name.endswith(".json"))
    check_choice("name", name, names)
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))


def save_figure(figure, out_dir, stem):
    """Save ``figure`` as ``stem.png`` and ``stem.svg`` in ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    figure.savefig(paths[0], dpi=150)
    figure.savefig(paths[1])
    return paths


def markdown_table(header, rows, digits=4):
    """A Markdown table: floats rounded to ``digits`` decimals, everything else as text.

    Notebooks show it with ``IPython.display.Markdown``; a terminal prints it as is.
    """
    def cell(value):
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)
