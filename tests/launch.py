"""Read the launch buttons of built pages, and check that each opens a file that exists.

What opens what: Colab opens an .ipynb from the repository on GitHub; Binder and a
JupyterHub (through nbgitpuller) open a file of a clone in JupyterLab, which opens an
.ipynb, and a Markdown notebook through jupytext (binder/postBuild, and the hub's image,
make it the default for Markdown).
"""

import re
from urllib.parse import parse_qs, urlsplit

import jupytext
import nbformat
import yaml

LAUNCH_GROUP = re.compile(r'<div class="dropdown dropdown-launch-buttons">(.*?)</ul>', re.S)
BUTTON = re.compile(r'<a href="([^"]+)".*?<span class="btn__text-container">([^<]+)</span>', re.S)


def launch_buttons(page):
    """The launch buttons of one built HTML page: [(name, url), ...]."""
    group = LAUNCH_GROUP.search(page.read_text(encoding="utf-8"))
    return [(name, url.replace("&amp;", "&")) for url, name in BUTTON.findall(group.group(1))] if group else []


def linked_path(name, url, config):
    """The repository path a launch button of kind ``name`` opens; fails if its link does
    not lead to this book's repository and branch in the form the service reads."""
    repository = config["repository"]["url"].rstrip("/")
    org_repo = repository.removeprefix("https://github.com/")
    branch = config["repository"]["branch"]
    buttons = config["launch_buttons"]
    parts = urlsplit(url)
    if name == "Colab":
        prefix = f"{buttons['colab_url'].rstrip('/')}/github/{org_repo}/blob/{branch}/"
        assert url.startswith(prefix), f"{url} does not open {repository} at {branch} on Colab"
        return url.removeprefix(prefix)
    if name == "Binder":
        prefix = f"{buttons['binderhub_url'].rstrip('/')}/v2/gh/{org_repo}/{branch}"
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == prefix, f"{url} does not build {repository} at {branch}"
        (urlpath,) = parse_qs(parts.query)["urlpath"]
        assert urlpath.startswith("lab/tree/"), url
        return urlpath.removeprefix("lab/tree/")
    if name == "JupyterHub":
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
            f"{buttons['jupyterhub_url'].rstrip('/')}/hub/user-redirect/git-pull"), f"{url} is not an nbgitpuller link"
        query = {key: value for key, (value,) in parse_qs(parts.query).items()}
        assert query["repo"] == repository and query["branch"] == branch, url
        # nbgitpuller clones into a folder named after the repository, in the user's home.
        clone = f"lab/tree/{org_repo.split('/')[1]}/"
        assert query["urlpath"].startswith(clone), url
        return query["urlpath"].removeprefix(clone)
    raise AssertionError(f"a launch button this test does not know: {name} {url}")


def check_opens(name, path, root):
    """Fail unless the file at ``path`` in the checkout ``root`` is one that ``name`` opens as a notebook."""
    target = root / path
    assert target.is_file(), f"{name} opens {path}, which is not in the repository"
    if target.suffix == ".ipynb":
        nbformat.validate(nbformat.read(target, as_version=4))
        return
    assert name != "Colab", f"Colab opens .ipynb files only, not {path}"
    assert target.suffix == ".md", f"{name} opens {path}, neither a notebook nor Markdown"
    assert "kernelspec" in jupytext.read(target).metadata, f"jupytext does not read {path} as a notebook"


def read_config(root):
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
