"""Write the classroom edition's configuration: _config.yml with solutions hidden.

The classroom edition is the same book without worked solutions. Its table of
contents is _toc_classroom.yml; its configuration is derived here from _config.yml
rather than kept as a second copy, so the two editions cannot drift apart.

    python tools/classroom_config.py --cache _build/.jupyter_cache > classroom.yml
"""

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def classroom_config(config, cache=None, book_root=ROOT):
    """Return a copy of a parsed _config.yml for the classroom edition.

    The copy is written elsewhere, so a local extension's folder, relative to
    ``book_root`` in the original, is made absolute.
    """
    edition = dict(config)
    edition["title"] = f"{config['title']} (classroom edition)"
    sphinx = dict(edition.get("sphinx", {}))
    # No page's source is published either: a chapter's source holds its solutions.
    sphinx["config"] = {
        **sphinx.get("config", {}),
        "hide_solutions": True,
        "html_copy_source": False,
        "html_theme_options": {"use_download_button": False},
    }
    # Merge the theme option into Jupyter Book's own (launch buttons, repository).
    sphinx["recursive_update"] = True
    if "local_extensions" in sphinx:
        sphinx["local_extensions"] = {name: str((Path(book_root) / folder).resolve())
                                      for name, folder in sphinx["local_extensions"].items()}
    edition["sphinx"] = sphinx
    if cache is not None:
        # Reuse the self-study build's executed notebooks: the chapters are the same.
        edition["execute"] = {**edition.get("execute", {}), "cache": str(Path(cache).resolve())}
    return edition


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=ROOT / "_config.yml", type=Path,
                        help="the self-study edition's configuration (default: %(default)s)")
    parser.add_argument("--cache", default=None,
                        help="a jupyter-cache folder to share with the self-study build")
    args = parser.parse_args(argv)
    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    edition = classroom_config(config, args.cache, book_root=args.config.resolve().parent)
    yaml.safe_dump(edition, sys.stdout, sort_keys=False,
                   allow_unicode=True)


if __name__ == "__main__":
    main()
