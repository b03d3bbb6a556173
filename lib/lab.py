"""``make lab``: JupyterLab on notebooks/ with the project's kernel.

Extra arguments come in ``ADV_LAB_ARGS`` (``make lab LAB_ARGS="--port 9999"``), split like
a shell line but never run by a shell. As root, Jupyter refuses to start without
``--allow-root``, so it is added then.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from lib import runtime


def command(extra: str = "", is_root: bool | None = None) -> list[str]:
    """The argv that starts JupyterLab; ``extra`` is the user's text of further arguments."""
    is_root = (os.geteuid() == 0) if is_root is None else is_root
    jupyter = Path(sys.executable).with_name("jupyter")
    argv = [str(jupyter), "lab", str(runtime.REPO_ROOT / "notebooks")]
    extra_args = shlex.split(extra)
    if is_root and "--allow-root" not in extra_args:
        argv.append("--allow-root")
    return argv + extra_args


def main() -> int:
    try:
        argv = command(os.environ.get("ADV_LAB_ARGS", ""))
    except ValueError as err:
        print(f"error: cannot split LAB_ARGS ({err})", file=sys.stderr)
        return 2
    os.execv(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main())
