"""``python -m lib.data fetch [NAME ...]``: get datasets into the data dir, verified (``make data``).

``python -m lib.data list`` shows every dataset, its display name and note, and the data mirror in use.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lib import runtime
from lib.data import DATASETS, fetch, info, mirror_dir

# Everything that can be had offline here; `cifar10` (the original) needs the network.
DEFAULT_FETCH = ["mnist", "fashion_mnist", "cifar10_jpeg"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="install / download datasets into the data dir, verified")
    f.add_argument("names", nargs="*", default=DEFAULT_FETCH, metavar="NAME",
                   help=f"datasets, from {sorted(DATASETS)} (default: {' '.join(DEFAULT_FETCH)})")
    f.add_argument("--root", type=Path, default=None, help="data dir (default: $ADV_DATA_DIR or data/)")
    f.add_argument("--offline", action="store_true", help="never try a torchvision download")
    f.add_argument("--quiet", action="store_true", help="print only what is missing")
    sub.add_parser("list", help="list the datasets and where they would come from")
    args = parser.parse_args(argv)
    if args.cmd == "list":
        print(f"data dir: {runtime.data_dir()}\ndata mirror: {mirror_dir() or 'none'}")
        for meta in DATASETS.values():
            print(f"{meta.name:14s} {meta.title:26s} {meta.note}")
        return 0
    for name in args.names:
        try:
            info(name)
        except ValueError as err:
            parser.error(str(err))
    return 1 if fetch(args.names, args.root, download=not args.offline, quiet=args.quiet) else 0


if __name__ == "__main__":
    sys.exit(main())
