"""Parameter sets per notebook, ``smoke``, ``quick`` and ``paper``, checked before anything runs.

Each report ``lib/reports/<id>/profile.py`` declares

- ``PARAMS``: ``{name: spec}``, a type and range for every parameter (:mod:`lib.params`);
- ``PROFILES``: ``{"smoke": {...}, "quick": {...}, "paper": {...}}``, one value per parameter;
- optionally ``check(cfg)``: constraints between parameters; raises :class:`ConfigError`.

- smoke: synthetic data, seconds per notebook; what the tests run.
- quick: the reports' own datasets (subsets) on a 2-core CPU, each notebook within 5 minutes.
- paper: each report's own datasets and hyperparameters, for a GPU.

With no profile: ``paper`` when a GPU is present, ``quick`` otherwise. :func:`resolve` is
the one path every value takes, from a notebook's ``overrides`` and from ``make reproduce``
alike: unknown names, wrong types, out-of-range or non-finite values and subsets larger
than their split are refused with a message that names the parameter.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from lib import runtime
from lib.params import ConfigError, Param

__all__ = ["ConfigError", "Config", "PROFILE_NAMES", "resolve", "reports", "specs_of",
           "profiles_of", "parse_overrides", "default_profile"]

PROFILE_NAMES = ("smoke", "quick", "paper")
NOTEBOOK_DIR = runtime.REPO_ROOT / "notebooks"

#: Subset sizes and the split they are drawn from (``n_val`` comes out of the training split).
_SPLIT_OF = {"n_train": "train", "n_val": "train", "n_test": "test"}


class Config(dict):
    """A notebook's resolved parameters: a dict with attribute access.

    ``cfg.report``, ``cfg.profile`` and ``cfg.out_dir`` (figures/<profile>/<report>/)
    come with it.
    """

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"no parameter {key!r}; parameters: {sorted(self)}") from None

    @property
    def out_dir(self) -> Path:
        """Where this run writes (see :func:`lib.runtime.output_dir`), with the run's stamp
        (:mod:`lib.provenance`) written there on first use."""
        path = runtime.output_dir(self["report"], self["profile"])
        data = self.provenance
        if self.__dict__.get("_stamped") != path:
            from lib import provenance

            provenance.write(path, data)
            self.__dict__["_stamped"] = path
        return path

    @property
    def provenance(self) -> dict:
        """This run's stamp: run id, parameters, commit, date, versions, device, precision."""
        if "_provenance" not in self.__dict__:
            from lib import provenance

            self.__dict__["_provenance"] = provenance.stamp(self)
        return self.__dict__["_provenance"]

    def table(self) -> pd.DataFrame:
        """The parameters as a two-column table, for display at the top of a notebook."""
        return pd.DataFrame({"value": [repr(v) for v in self.values()]}, index=pd.Index(list(self), name="parameter"))


def reports() -> list[str]:
    """Report ids that have a profile module (one per notebook)."""
    from lib import reports as _reports

    return _reports.ids()


def run_last(report: str) -> bool:
    """True for a notebook that reads the others' results (the study summary)."""
    return bool(getattr(_module(report), "RUN_LAST", False))


def _module(report: str):
    from lib import reports as _reports

    if not isinstance(report, str) or report not in reports():
        raise ConfigError(f"unknown report {report!r}; choose from {reports()}")
    return _reports.profile_module(report)


def common_specs() -> dict[str, Param]:
    """Parameters every notebook has without declaring them: ``precision`` (:mod:`lib.precision`)."""
    from lib.params import Choice
    from lib.precision import CHOICES

    return {"precision": Choice(options=CHOICES, doc="arithmetic of training and attacks: 'auto' picks bf16 "
                                "autocast where the hardware computes it natively, else fp32 (ADV_PRECISION "
                                "overrides 'auto'); every decision is made in fp32")}


#: The common parameters' value in every profile.
COMMON_DEFAULTS = {"precision": "auto"}


def profiles_of(report: str) -> dict[str, dict]:
    return {name: {**COMMON_DEFAULTS, **values} for name, values in _module(report).PROFILES.items()}


def specs_of(report: str) -> dict[str, Param]:
    """``{name: spec}`` of every parameter of ``report`` (seed, device and precision included)."""
    return {**_module(report).PARAMS, **common_specs()}


def default_profile(verbose: bool = True) -> str:
    profile = "paper" if runtime.has_gpu() else "quick"
    if verbose:
        print(f"No profile given: using {profile!r} "
              f"({'a GPU is present' if profile == 'paper' else 'no GPU found'}).")
    return profile


def resolve(report: str, profile: str | None = None, overrides: Mapping[str, Any] | None = None
            ) -> Config:
    """The parameters of ``report`` under ``profile``, with ``overrides`` applied and checked."""
    module = _module(report)
    if profile is None:
        profile = default_profile()
    if profile not in PROFILE_NAMES:
        raise ConfigError(f"unknown profile {profile!r}; choose from {list(PROFILE_NAMES)}")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"overrides must be a dict {{name: value}}, got {type(overrides).__name__}")
    specs, params = specs_of(report), dict(profiles_of(report)[profile])
    unknown = sorted(set(overrides or {}) - set(specs))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} for {report!r}; "
                          f"parameters are {sorted(specs)}")
    params.update(overrides or {})
    checked = {name: specs[name].check(name, params[name]) for name in specs}
    _check_subset_sizes(checked)
    cfg = Config(report=report, profile=profile, **checked)
    _check_precision(cfg)
    check = getattr(module, "check", None)
    if check is not None:  # constraints between parameters, also before anything runs
        check(cfg)
    if _in_kernel():  # a notebook's run starts here: show its stamp at the top of its outputs
        from lib import provenance, tables

        tables.show_whole()
        provenance.announce(cfg.provenance)
    return cfg


def _check_precision(cfg: Config) -> None:
    """The precision asked for (or ``$ADV_PRECISION``) must exist on the device at hand."""
    from lib import precision

    try:
        precision.resolve(cfg["precision"], cfg.get("device"))
    except (ValueError, RuntimeError) as err:
        raise ConfigError(str(err)) from None


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (a notebook run), False in plain Python (the runner's checks)."""
    import sys

    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    return hasattr(get_ipython(), "kernel")


def datasets_of(params: Mapping[str, Any]) -> list[str]:
    """The datasets a notebook's parameters name: ``dataset``, ``datasets``, and, for a resolved
    :class:`Config`, every parameter its report declares as a dataset name (``cifar_data``...)."""
    from lib.params import DatasetName, ListOf

    names = list(params.get("datasets") or ([params["dataset"]] if "dataset" in params else []))
    report = params.get("report")
    if isinstance(report, str) and report in reports():
        for key, spec in specs_of(report).items():
            item = spec.item if isinstance(spec, ListOf) else spec
            if isinstance(item, DatasetName) and params.get(key) is not None:
                value = params[key]
                names += list(value) if isinstance(value, (list, tuple)) else [value]
    return list(dict.fromkeys(names))


def _check_subset_sizes(params: Mapping[str, Any]) -> None:
    """``n_train`` / ``n_val`` / ``n_test`` no larger than the split of each dataset used."""
    from lib import data

    names = datasets_of(params)
    for key, split in _SPLIT_OF.items():
        value = params.get(key)
        for name in names:
            n = value.get(name) if isinstance(value, dict) else value
            if n is None:
                continue
            size = data.max_size(name, split)   # generated data too: a cap, not a split
            if size is not None and n > size:
                raise ConfigError(f"{key}={n} is larger than the {split} split of {name} "
                                  f"({size} images)")


def parse_overrides(report: str, items: Mapping[str, str]) -> dict[str, Any]:
    """Command-line text ``{name: "value"}`` -> typed values, each by its declared spec."""
    specs = specs_of(report)
    unknown = sorted(set(items) - set(specs))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} for {report!r}; "
                          f"parameters are {sorted(specs)}")
    return {name: specs[name].parse(name, text) for name, text in items.items()}


def split_assignments(items: list[str]) -> dict[str, str]:
    """``["epochs=2", "eps=0.1,0.2"]`` -> ``{"epochs": "2", "eps": "0.1,0.2"}`` (text, unparsed)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not all(part.isidentifier() for part in key.split(".")) or key.count(".") > 1:
            raise ConfigError(f"parameter {item!r} is not of the form name=value (or report.name=value)")
        if key in out:
            raise ConfigError(f"parameter {key!r} is given twice")
        out[key] = raw
    return out


def title_of(report: str) -> str:
    """The notebook's title: the first level-1 heading of ``notebooks/<report>.py``."""
    path = NOTEBOOK_DIR / f"{report}.py"
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("# # "):
                return line[4:].strip()
    except OSError:
        pass
    return report


def report_source(report: str) -> str:
    """The student report a notebook reproduces, as ``"title" (file)``; empty when none (or unknown)."""
    import importlib

    try:
        ref = importlib.import_module(f"lib.reports.{report}.reference")
    except ImportError:
        return ""
    title, file = getattr(ref, "TITLE", ""), getattr(ref, "FILE", "")
    if not (title and file):  # else as its docstring names it: ("<title>", ``<file>``)
        import re

        found = re.search(r'"([^"]+)"[^`"]*``(\d{3}_\w+\.txt)``', " ".join((ref.__doc__ or "").split()))
        title, file = (title or found.group(1), file or found.group(2)) if found else (title, file)
    return (f'"{title}"' if title else "") + (f" ({file})" if file else "")


def describe_text(report: str, width: int = 100) -> str:
    """:func:`describe` as text wrapped to ``width`` columns: per parameter its name and type,
    then its values in the three profiles, then its meaning."""
    import textwrap

    table = describe(report)
    head = f"{report}: {title_of(report)}"
    blocks = [textwrap.fill(head, width), ""]
    for row in table.itertuples(index=False):
        block = [textwrap.fill(f"{row.parameter}: {row.type}", width, subsequent_indent="    ")]
        values = "; ".join(f"{p} {getattr(row, p)}" for p in PROFILE_NAMES)
        block.append(textwrap.fill(values, width, initial_indent="    ", subsequent_indent="      "))
        if row.meaning:
            block.append(textwrap.fill(row.meaning, width, initial_indent="    ", subsequent_indent="    "))
        blocks.append("\n".join(block))
    blocks.append("\n" + textwrap.fill(f"Set one: make reproduce REPORTS={report} PARAMS=\"name=value ...\" "
                                       f"(or {report}.name=value when several reports run)", width))
    return "\n".join(blocks)


def describe(report: str) -> pd.DataFrame:
    """Every parameter of ``report``: its type and range, meaning, and the three profiles' values."""
    specs, table = specs_of(report), profiles_of(report)
    return pd.DataFrame([{"parameter": k, "type": s.describe(), "meaning": s.doc,
                          **{p: repr(table[p][k]) for p in PROFILE_NAMES}} for k, s in specs.items()])
