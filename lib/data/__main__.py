"""``.venv/bin/python -m lib.data fetch [NAME ...]``: get datasets into the data dir, verified (``make data``).

``.venv/bin/python -m lib.data list`` says, for every dataset, whether it is present, where, and
whether its files pass their checksums; and which data dir and data mirror are in use.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lib import runtime
from lib.data import DATASETS, cifar10_jpeg, fetch, info, mirror_dir, sources

# Everything that can be had offline here; `cifar10` (the original) needs the network.
DEFAULT_FETCH = ["mnist", "fashion_mnist", "cifar10_jpeg"]
PROG = ".venv/bin/python -m lib.data"


def location(name: str, root: Path) -> Path | None:
    """Where a dataset's files live under the data dir (None for generated ones)."""
    if name in sources.TORCHVISION_FOLDER:
        return sources.raw_folder(name, root)
    if name == "cifar10_jpeg":
        return cifar10_jpeg.cache_path(root, "train").parent
    if name == "cifar10":
        return root / "cifar-10-batches-py"
    return None


def status(name: str, root: Path) -> tuple[str, str, str]:
    """(present, where, verified) of one dataset, in words."""
    folder = location(name, root)
    if folder is None:
        return "generated", "on the fly", "deterministic"
    if not folder.exists():
        how = "make data (online)" if name == "cifar10" else f"{PROG} fetch {name}"
        return "no", f"{folder} (missing)", f"get it: {how}"
    problem = sources._present(name, root)   # every file read and checked, as the notebooks would
    if problem is None:
        return "yes", str(folder), "yes (every file read and checked)"
    return "yes", str(folder), f"NO: {problem}"


def listing(root: Path | None = None) -> str:
    root = Path(root) if root is not None else runtime.data_dir()
    mirror = mirror_dir()
    lines = [f"data dir: {root}  (ADV_DATA_DIR moves it)",
             f"data mirror: {mirror or 'none'}  (ADV_DATA_MIRROR)", ""]
    rows = [("dataset", "name", "present", "where", "verified")]
    rows += [(n, DATASETS[n].title, *status(n, root)) for n in DATASETS]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines += ["  ".join(f"{c:<{w}}" for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="install / download datasets into the data dir, verified")
    f.add_argument("names", nargs="*", default=DEFAULT_FETCH, metavar="NAME",
                   help=f"datasets, from {sorted(DATASETS)} (default: {' '.join(DEFAULT_FETCH)})")
    f.add_argument("--root", type=Path, default=None, help="data dir (default: $ADV_DATA_DIR or data/)")
    f.add_argument("--offline", action="store_true", help="never try a torchvision download")
    f.add_argument("--quiet", action="store_true", help="print only what is missing")
    ls = sub.add_parser("list", help="every dataset: present, where, verified; the data dir and mirror")
    ls.add_argument("--root", type=Path, default=None, help="data dir (default: $ADV_DATA_DIR or data/)")
    args = parser.parse_args(argv)
    if args.cmd == "list":
        print(listing(args.root))
        return 0
    for name in args.names:
        try:
            info(name)
        except ValueError as err:
            parser.error(str(err))
    return 1 if fetch(args.names, args.root, download=not args.offline, quiet=args.quiet) else 0


if __name__ == "__main__":
    sys.exit(main())
