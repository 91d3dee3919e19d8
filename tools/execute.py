"""Execute the book's notebooks, several at a time, into the cache that `jupyter-book build` reads.

Jupyter Book 1 executes the notebooks one after the other as it reads them. Most of
them keep one core busy (small models spend their time in Python), so on a machine with
two cores running two at once nearly halves a fresh build. This runs what the build
would run (the same notebooks, each in its own folder, with _config.yml's timeout) and
stores the results in the same execution cache, where the build finds them. A notebook
that fails is not stored: the build runs it again and reports the error.

    python tools/execute.py [--cache _build/.jupyter_cache] [--jobs N]
"""

import argparse
import fnmatch
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution
from myst_nb.core.read import myst_nb_reader_plugin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from notebooks import toc_pages  # noqa: E402


def read_notebook(path):
    """A page as the build reads it: MyST Markdown through myst-nb's reader, or an .ipynb."""
    return myst_nb_reader_plugin(str(path)) if path.suffix == ".md" else nbformat.read(path, as_version=4)


def pages_to_execute(root, config):
    """The notebook pages of the table of contents that the build executes, in its order."""
    excluded = config.get("execute", {}).get("exclude_patterns", [])
    pages = []
    for page in toc_pages(root):
        name = page.relative_to(root).as_posix()
        if any(fnmatch.fnmatch(name, pattern) for pattern in excluded):
            continue
        if page.suffix == ".ipynb" or "kernelspec" in read_notebook(page).metadata:
            pages.append(page)
    return pages


def execute(page, timeout):
    """Run one notebook in its own folder; return (page, the executed notebook as JSON or None, seconds, error)."""
    notebook = read_notebook(page)
    result = single_nb_execution(notebook, cwd=str(page.parent), allow_errors=False, timeout=timeout,
                                 meta_override=True)
    if result.err is not None:
        return page, None, result.time, f"{type(result.err).__name__}"
    return page, nbformat.writes(notebook), result.time, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's folder (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="the execution cache (default: _build/.jupyter_cache in the book's folder)")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                        help="notebooks run at once (default: the cores available, %(default)s)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    timeout = config.get("execute", {}).get("timeout", 30)
    cache = get_cache(str(args.cache or root / "_build" / ".jupyter_cache"))

    pages, to_run = pages_to_execute(root, config), []
    for page in pages:
        try:
            cache.match_cache_notebook(read_notebook(page))
        except KeyError:
            to_run.append(page)
    failed = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for page, executed, seconds, error in pool.map(execute, to_run, [timeout] * len(to_run)):
            name = page.relative_to(root)
            if error:
                failed.append(str(name))
                print(f"{name}: failed ({error}) after {seconds:.1f} s; the build will run it again", flush=True)
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(nbformat.reads(executed, as_version=4), str(page), data={"execution_seconds": seconds}),
                check_validity=False, overwrite=True)
            print(f"{name}: executed in {seconds:.1f} s", flush=True)
    print(f"{len(to_run) - len(failed)} notebooks executed, {len(failed)} failed, "
          f"{len(pages) - len(to_run)} already in the cache")


if __name__ == "__main__":
    main()
