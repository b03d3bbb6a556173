"""``make lab``: JupyterLab 4 at the repository's root, opening ``notebooks/``, with the project's kernel.

- The whole repository is reachable (``figures/`` with a run's ``<report>.failed.ipynb``, the
  README); the file browser opens on ``notebooks/``.
- A notebook run in the lab writes its figures and tables to ``figures/<profile>/lab/<report>/``
  (:func:`lib.runtime.output_dir`), never into what ``make reproduce`` owns.
- Saving a notebook under ``notebooks/`` keeps its outputs out of the file
  (:func:`strip_outputs_hook`, a Jupyter pre-save hook: what nbstripout does at commit time), so
  the committed ``.ipynb`` never holds outputs; jupytext keeps the ``.py`` twin in sync.
- ``LAB_ARGS`` (``ADV_LAB_ARGS``) takes only known options: ``--port N``, ``--no-browser``,
  ``--notebook-dir DIR`` (also ``--ServerApp.port`` / ``--ServerApp.root_dir``). Anything else
  (``--config``, ``--ServerApp.ip``, a token) is refused: the server listens on 127.0.0.1 only,
  with the token Jupyter generates. As root, ``--allow-root`` is added (Jupyter refuses otherwise).

``ADV_DRY_RUN=1`` prints the command instead of starting it.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from lib import runtime
from lib.params import ConfigError

NOTEBOOKS = runtime.REPO_ROOT / "notebooks"
#: The server listens here only: never on a public interface.
HOST = "127.0.0.1"
#: Accepted LAB_ARGS options -> the ServerApp setting each one sets, and whether it takes a value.
OPTIONS = {"--port": "ServerApp.port", "--ServerApp.port": "ServerApp.port",
           "--notebook-dir": "ServerApp.root_dir", "--ServerApp.root_dir": "ServerApp.root_dir",
           "--no-browser": "ServerApp.open_browser"}


def parse_args(extra: str) -> dict[str, str]:
    """``LAB_ARGS`` text -> ``{ServerApp setting: value}``; anything not in :data:`OPTIONS` is refused."""
    try:
        words = shlex.split(extra)
    except ValueError as err:
        raise ConfigError(f"cannot split LAB_ARGS ({err})") from None
    settings: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        name, eq, value = word.partition("=")
        if name not in OPTIONS:
            raise ConfigError(f"LAB_ARGS: {word!r} is not allowed; use only {', '.join(sorted(set(OPTIONS)))} "
                              "(the lab always listens on 127.0.0.1 with a token)")
        setting = OPTIONS[name]
        if setting == "ServerApp.open_browser":
            if eq:
                raise ConfigError(f"LAB_ARGS: {name} takes no value")
            settings[setting] = "False"
            i += 1
            continue
        if not eq:
            if i + 1 >= len(words):
                raise ConfigError(f"LAB_ARGS: {name} needs a value")
            value, i = words[i + 1], i + 1
        i += 1
        if setting == "ServerApp.port":
            if not value.isdigit() or not 1 <= int(value) <= 65535:
                raise ConfigError(f"LAB_ARGS: the port must be a number from 1 to 65535, got {value!r}")
        else:
            path = Path(value).expanduser()
            path = path if path.is_absolute() else Path.cwd() / path
            if not path.is_dir():
                raise ConfigError(f"LAB_ARGS: {name} {value!r} is not a directory")
            value = str(path.resolve())
        settings[setting] = value
    return settings


def command(extra: str = "", is_root: bool | None = None) -> list[str]:
    """The argv that starts JupyterLab; ``extra`` is the user's ``LAB_ARGS`` text (checked)."""
    is_root = (os.geteuid() == 0) if is_root is None else is_root
    settings = parse_args(extra)
    root = Path(settings.pop("ServerApp.root_dir", str(runtime.REPO_ROOT)))
    jupyter = Path(sys.executable).with_name("jupyter")
    argv = [str(jupyter), "lab", f"--ServerApp.root_dir={root}", f"--ServerApp.ip={HOST}",
            "--FileContentsManager.pre_save_hook=lib.lab.strip_outputs_hook"]
    try:  # open the file browser on notebooks/ when the root holds it
        argv.append(f"--LabApp.default_url=/lab/tree/{NOTEBOOKS.resolve().relative_to(root.resolve()).as_posix()}")
    except ValueError:
        pass
    if is_root:
        argv.append("--allow-root")
    return argv + [f"--{k}={v}" for k, v in settings.items()]


def strip_outputs_hook(model: dict, path: str, contents_manager=None, **_) -> None:
    """Jupyter pre-save hook: a notebook saved under the repository's ``notebooks/`` (or a
    ``notebooks/`` folder at the lab's root) loses its outputs and execution counts (the lab
    still shows them until it is closed); others keep theirs (an executed
    ``figures/...failed.ipynb`` is for reading)."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    root = Path(getattr(contents_manager, "root_dir", runtime.REPO_ROOT))
    where = (root / path.lstrip("/")).resolve()
    if NOTEBOOKS.resolve() in where.parents or Path(path.lstrip("/")).parts[:1] == ("notebooks",):
        strip(model["content"])


def strip(nb: dict) -> dict:
    """Remove outputs and execution counts from a notebook's JSON (in place); return it."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb


def strip_files(paths: list[Path]) -> list[Path]:
    """Strip the outputs saved in these notebooks (``make notebooks``); return the ones changed."""
    import nbformat

    changed = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code"):
            strip(nb)
            nbformat.write(nb, path)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["strip"]:
        for path in strip_files([Path(p) for p in args[1:]] or sorted(NOTEBOOKS.glob("*.ipynb"))):
            print(f"stripped the outputs of {path}")
        return 0
    try:
        cmd = command(os.environ.get("ADV_LAB_ARGS", ""))
        # the lab's kernels run in notebooks/: a relative ADV_* folder would land there
        runtime.resolve_environment()
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if os.environ.get("ADV_DRY_RUN", "").strip() not in ("", "0"):
        print(shlex.join(cmd))
        return 0
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main())
