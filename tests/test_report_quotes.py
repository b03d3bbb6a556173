"""Every claim of every report is the report's own words: each quote in a package's
``reference.QUOTES`` (and its other quoted passages) appears in the report's text, whitespace
and case aside."""
from __future__ import annotations

import importlib

import pytest

from lib import reports, verdicts


def _quotes():
    out = []
    for report in reports.ids():
        try:
            ref = importlib.import_module(f"lib.reports.{report}.reference")
        except ModuleNotFoundError:
            continue
        quoted = dict(getattr(ref, "QUOTES", {}))
        quoted.update({name: q for name, q in vars(ref).items() if isinstance(q, verdicts.Quote)})
        out += [pytest.param(ref.FILE, q, id=f"{report}-{key}") for key, q in quoted.items()]
    return out


QUOTES = _quotes()


def test_converted_reports_have_quotes():
    from lib.reports import base

    have = {p.id.split("-")[0] for p in QUOTES}
    assert set(base.CONVERTED) <= have


@pytest.mark.parametrize("file, quote", QUOTES)
def test_quote_is_in_the_report(file, quote):
    path = verdicts.reports_dir() / file
    if not path.exists():
        pytest.skip(f"the report's text is not on this machine ({path}); set ADV_REPORTS_DIR")
    assert quote.text.strip() and quote.section.strip()
    assert verdicts.quote_found(quote.text, path.read_text()), f"not in {file}: {quote.text!r}"
