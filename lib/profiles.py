"""Parameter sets per notebook: ``smoke``, ``quick`` and ``paper``.

Each notebook ``notebooks/<report>.ipynb`` has a module ``lib/profiles/<report>.py``
with a dict ``PROFILES = {"smoke": {...}, "quick": {...}, "paper": {...}}``;
the three share one set of keys, and those keys are the notebook's parameters.
The module may define ``check(cfg)`` for its own checks; it raises ConfigError.

- smoke: synthetic data, seconds per notebook; what the tests run.
- quick: real Fashion-MNIST on a CPU; all reports together in about 15 minutes.
- paper: each report's own datasets and hyperparameters, for a GPU.

With no profile: ``paper`` when a GPU is present, ``quick`` otherwise.
Everything is checked before any compute: an unknown report, profile or
parameter, a negative eps or an unknown dataset is a clear error.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from lib import runtime

PROFILE_NAMES = ("smoke", "quick", "paper")
NOTEBOOK_DIR = runtime.REPO_ROOT / "notebooks"


class ConfigError(ValueError):
    """A bad report, profile or parameter; raised before anything runs."""


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
        return runtime.output_dir(self["report"], self["profile"])

    def table(self) -> pd.DataFrame:
        """The parameters as a two-column table, for display at the top of a notebook."""
        return pd.DataFrame({"parameter": list(self), "value": [repr(v) for v in self.values()]})


def reports() -> list[str]:
    """Report ids that have a profile module (one per notebook)."""
    from lib import reports as _reports

    return _reports.ids()


def default_profile(verbose: bool = True) -> str:
    profile = "paper" if runtime.has_gpu() else "quick"
    if verbose:
        print(f"No profile given: using {profile!r} "
              f"({'a GPU is present' if profile == 'paper' else 'no GPU found'}).")
    return profile


def profiles_of(report: str) -> dict[str, dict]:
    if report not in reports():
        raise ConfigError(f"unknown report {report!r}; choose from {reports()}")
    from lib import reports as _reports

    return _reports.profile_module(report).PROFILES


def resolve(report: str, profile: str | None = None, overrides: Mapping[str, Any] | None = None
            ) -> Config:
    """The parameters of ``report`` under ``profile``, with ``overrides`` applied and checked."""
    table = profiles_of(report)
    if profile is None:
        profile = default_profile()
    if profile not in PROFILE_NAMES:
        raise ConfigError(f"unknown profile {profile!r}; choose from {list(PROFILE_NAMES)}")
    params = dict(table[profile])
    unknown = sorted(set(overrides or {}) - set(params))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} for {report!r}; "
                          f"parameters are {sorted(params)}")
    params.update(overrides or {})
    validate(params)
    cfg = Config(report=report, profile=profile, **params)
    from lib import reports as _reports

    check = getattr(_reports.profile_module(report), "check", None)
    if check is not None:  # the notebook's own checks, also before anything runs
        check(cfg)
    return cfg


def validate(params: Mapping[str, Any]) -> None:
    """Checks common to every notebook: eps >= 0, known datasets, positive sizes."""
    from lib.data import DATASETS

    for key, value in params.items():
        values = _flatten(value)
        if "eps" in key and any(isinstance(v, (int, float)) and not v >= 0 for v in values):
            raise ConfigError(f"{key} must be >= 0, got {value}")
        if key in ("dataset", "datasets"):
            for v in values:
                if v not in DATASETS:
                    raise ConfigError(f"unknown dataset {v!r} in {key}; choose from {sorted(DATASETS)}")
        if (key.startswith("n_") or key.endswith("epochs") or key.endswith("steps")) and \
                any(isinstance(v, int) and v < 0 for v in values):
            raise ConfigError(f"{key} must be >= 0, got {value}")


def _flatten(value) -> list:
    """Scalars inside lists and per-dataset dicts (``{"mnist": 0.3, ...}``), flattened."""
    if isinstance(value, dict):
        return [v for item in value.values() for v in _flatten(item)]
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _flatten(item)]
    return [value]


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``["epochs=2", "eps=[0.1,0.2]"]`` -> ``{"epochs": 2, "eps": [0.1, 0.2]}`` (Python literals)."""
    import ast

    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"parameter {item!r} is not of the form name=value")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key.strip()] = raw
    return out
