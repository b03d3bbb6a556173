"""The hand-in's HTML pages (:mod:`lib.handin`): one per executed notebook, and the index.

A notebook page is nbconvert's "lab" page, made safe and readable:

- safe: every output's HTML and every Markdown text is sanitised (an allow-list of tags and
  attributes, scripts and event handlers removed, links and images only to safe places);
  images must be base64; other output types (JavaScript, SVG, widgets) are dropped, and the
  page carries no script at all;
- readable: titled by its report, the run's provenance at the top, input cells hidden (one
  toggle, plain CSS, shows them), papermill's injected cell and empty cells out, tables whole,
  text left-aligned and numbers right-aligned, verdicts coloured.
"""
from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from lib import provenance, stats

#: Tags that survive sanitising (what Markdown, pandas tables and nbconvert's page need).
ALLOWED_TAGS = frozenset("""a abbr b blockquote br caption code col colgroup dd del details div dl dt em figcaption
    figure h1 h2 h3 h4 h5 h6 hr i img ins kbd li ol p pre s samp small span strong sub summary sup table tbody td
    tfoot th thead tr u ul""".split())
#: Elements removed with everything inside them.
DROPPED = ("script", "style", "iframe", "object", "embed", "link", "meta", "base", "form", "svg", "math",
           "template", "noscript", "frame", "frameset", "applet", "audio", "video", "source", "canvas")
_COMMON_ATTRS = frozenset({"class", "id", "title", "colspan", "rowspan", "align", "lang", "dir"})
_SAFE_IMAGE = re.compile(r"^data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*$")
_SAFE_LINK = re.compile(r"^(https?://|mailto:|#|[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*/?(#[\w\-]*)?$)")
#: Output types kept in a page; anything else (JavaScript, SVG, widgets, LaTeX) is dropped.
KEPT_MIMETYPES = ("text/html", "text/markdown", "text/plain", "image/png", "image/jpeg")
VERDICT_CLASS = {stats.HOLDS: "v-holds", stats.FAILS: "v-fails", stats.UNJUDGED: "v-unjudged"}
_NUMBER = re.compile(r"^[-+]?(\d[\d,]*\.?\d*|\.\d+)([eE][-+]?\d+)?\s*(%|\[[^\]]*\])?$|^(nan|inf|-inf|-)$",
                     re.IGNORECASE)


# --------------------------------------------------------------------------- sanitising
def _attribute_ok(tag: str, name: str, value: str) -> bool:
    if name in _COMMON_ATTRS:
        return True
    if tag == "img" and name in ("alt", "width", "height"):
        return True
    if tag == "img" and name == "src":
        return bool(_SAFE_IMAGE.match(value) or _SAFE_LINK.match(value) and not value.startswith("mailto:"))
    if tag == "a" and name == "href":
        return bool(_SAFE_LINK.match(value))
    return False


def sanitize(text: str) -> str:
    """HTML from an untrusted place (a notebook output, Markdown) -> HTML that runs nothing."""
    import bleach
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for element in soup.find_all(DROPPED):
        element.decompose()
    return bleach.clean(str(soup), tags=ALLOWED_TAGS, attributes=_attribute_ok,
                        protocols=["http", "https", "mailto", "data"], strip=True, strip_comments=True)


def _safe_output(output: dict) -> dict | None:
    """An output as it may appear in the page, or None to drop it."""
    if output.get("metadata", {}).get(provenance.KEY):
        return None  # the provenance block: the page shows it at the top
    if output.get("output_type") not in ("execute_result", "display_data"):
        return output  # streams and errors: plain text, escaped by the template
    data = {}
    for mime in KEPT_MIMETYPES:
        value = output.get("data", {}).get(mime)
        if value is None:
            continue
        value = "".join(value) if isinstance(value, list) else str(value)
        if mime == "text/html":
            value = mark_table_cells(sanitize(value))
        elif mime.startswith("image/"):
            try:
                base64.b64decode(value.replace("\n", ""), validate=True)
            except (binascii.Error, ValueError):
                continue
        data[mime] = value
    if not data:
        return None
    output = type(output)(output)  # a NotebookNode stays one
    output["data"], output["metadata"] = data, {}
    return output


def prepare_notebook(nb) -> Any:
    """Drop papermill's injected cell and empty cells; make every output safe (in place)."""
    cells = []
    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "code":
            cell.outputs = [o for o in (_safe_output(o) for o in cell.get("outputs", [])) if o is not None]
            if not cell.source.strip() and not cell.outputs:
                continue
        elif not cell.source.strip():
            continue
        cells.append(cell)
    nb.cells = cells
    return nb


def mark_table_cells(text: str) -> str:
    """Give every table cell a class: ``num`` (right-aligned), ``txt`` (left-aligned), and a
    verdict's colour class where the cell is a verdict."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for table in soup.find_all("table"):
        _drop_row_numbers(table)
    for cell in soup.find_all(["td", "th"]):
        content = cell.get_text(" ", strip=True)
        kind = "txt" if content and not _NUMBER.match(content) else "num"  # empty cells go with numbers
        classes = [c for c in cell.get("class", []) if c not in ("num", "txt")] + [kind]
        verdict = VERDICT_CLASS.get(content)
        if verdict:
            classes += ["verdict", verdict]
        cell["class"] = classes
    for table in soup.find_all("table"):  # a header sits over its column: right-aligned over numbers
        body = [r.find_all(["td", "th"], recursive=False) for r in table.find_all("tr") if r.find("td")]
        for row in table.find_all("tr"):
            if row.find("td"):
                continue
            for j, head in enumerate(row.find_all("th", recursive=False)):
                column = [r[j] for r in body if j < len(r)]
                if column and all("num" in c.get("class", []) for c in column):
                    head["class"] = [c for c in head.get("class", []) if c != "txt"] + ["num"]
    return str(soup)


def _drop_row_numbers(table) -> None:
    """Remove a pandas table's unnamed index column when it only numbers the rows (0, 1, 2 or,
    after a filter, 0, 2, 4): it means nothing to a reader."""
    body = table.find("tbody")
    rows = body.find_all("tr", recursive=False) if body else []
    firsts = [r.find(["th", "td"], recursive=False) for r in rows]
    if not rows or any(c is None or c.name != "th" or not c.get_text(strip=True).isdigit() for c in firsts):
        return
    head = table.find("thead")
    head_rows = head.find_all("tr", recursive=False) if head else []
    heads = [r.find(["th", "td"], recursive=False) for r in head_rows]
    if any(c is not None and c.get_text(strip=True) for c in heads):
        return  # a named index (e.g. "parameter") is content
    for cell in firsts + heads:
        if cell is not None:
            cell.decompose()


# --------------------------------------------------------------------------- a notebook's page
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.45; color: #1b1b1b; }
.hi-page { max-width: 1150px; margin: 0 auto; padding: 1em 1.5em 3em; }
.hi-header { border-bottom: 2px solid #2c5d8f; margin-bottom: 1em; padding-bottom: .6em; }
.hi-header h1 { margin: .2em 0; font-size: 1.7em; }
.hi-nav a { margin-right: 1.2em; }
.hi-muted { color: #555; font-size: .92em; }
table.hi-prov { border-collapse: collapse; font-size: .85em; margin: .5em 0; }
table.hi-prov th { text-align: left; padding: 2px 10px 2px 0; vertical-align: top; white-space: nowrap; color: #333; }
table.hi-prov td { text-align: left; padding: 2px 0; word-break: break-word; }
details.hi-details > summary { cursor: pointer; color: #2c5d8f; }
table { border-collapse: collapse; margin: .6em 0; font-size: .9em; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; vertical-align: top; }
thead th { border-bottom: 2px solid #888; background: #f4f6f8; }
td.txt, th.txt { text-align: left !important; }
td.num, th.num { text-align: right !important; font-variant-numeric: tabular-nums; }
td.verdict { font-weight: 600; white-space: nowrap; border-radius: 3px; }
.v-holds { background: #dcefdc; color: #1e5b1e; }
.v-fails { background: #f8dcdc; color: #8a1c1c; }
.v-unjudged { background: #eeeeee; color: #444; }
.hi-counts span { display: inline-block; margin-right: .8em; padding: 1px 8px; border-radius: 3px; font-size: .9em; }
img { max-width: 100%; height: auto; }
#hi-show-code { position: absolute; left: -9999px; }
label.hi-toggle { position: fixed; top: 10px; right: 14px; z-index: 10; background: #2c5d8f; color: white;
  padding: 5px 11px; border-radius: 4px; cursor: pointer; font-size: .85em; user-select: none; }
label.hi-toggle::before { content: "Show the code"; }
#hi-show-code:checked ~ label.hi-toggle::before { content: "Hide the code"; }
.jp-CodeCell .jp-Cell-inputWrapper, .jp-InputPrompt, .jp-OutputPrompt { display: none; }
#hi-show-code:checked ~ main .jp-CodeCell .jp-Cell-inputWrapper { display: block; }
#hi-show-code:checked ~ main .jp-InputPrompt, #hi-show-code:checked ~ main .jp-OutputPrompt { display: block; }
.jp-OutputArea-output pre { white-space: pre-wrap; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { max-width: 40em; }
.jp-RenderedHTMLCommon table { table-layout: auto; }
"""


def provenance_html(stamp: Mapping[str, Any] | None) -> str:
    if not stamp:
        return "<p class='hi-muted'>No provenance stamp.</p>"
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in provenance.summary_items(stamp))
    return f"<table class='hi-prov'>{rows}</table>"


def counts_html(counts: Mapping[str, int]) -> str:
    if not counts:
        return ""
    parts = [f"<span class='{VERDICT_CLASS.get(v, '')}'>{n} {html.escape(v)}</span>" for v, n in counts.items()]
    return f"<div class='hi-counts'>{''.join(parts)}</div>"


def notebook_page(nb, *, title: str, report: str, source: str, stamp: Mapping[str, Any] | None,
                  counts: Mapping[str, int], links: Sequence[tuple[str, str]]) -> str:
    """One executed notebook as a static page (see the module docstring)."""
    from bs4 import BeautifulSoup
    from jinja2 import pass_context
    from nbconvert import HTMLExporter

    class SafeExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):  # Markdown cells and outputs, sanitised
            return mark_table_cells(sanitize(super().markdown2html(context, source)))

    nb = prepare_notebook(nb)
    nb.metadata["title"] = title
    body, _ = SafeExporter(template_name="lab").from_notebook_node(nb, resources={"metadata": {"name": title}})
    soup = BeautifulSoup(body, "html.parser")
    for script in soup.find_all("script"):
        script.decompose()
    style = soup.new_tag("style")
    style.string = CSS
    soup.head.append(style)
    nav = " ".join(f"<a href='{html.escape(href)}'>{html.escape(text)}</a>" for text, href in links)
    header = BeautifulSoup(
        "<input type='checkbox' id='hi-show-code'><label class='hi-toggle' for='hi-show-code'></label>"
        f"<header class='hi-header hi-page'><div class='hi-nav'>{nav}</div><h1>{html.escape(title)}</h1>"
        + (f"<div class='hi-muted'>Reproduces {html.escape(source)}</div>" if source else "")
        + counts_html(counts)
        + "<details class='hi-details' open><summary>Provenance of this run</summary>"
        + f"{provenance_html(stamp)}</details>"
        f"<div class='hi-muted'>Notebook <code>{html.escape(report)}</code>. The code is hidden: the button "
        "at the top right shows it.</div></header>", "html.parser")
    main = soup.find("main")
    main["class"] = main.get("class", []) + ["hi-page"]
    for element in reversed(list(header.contents)):
        main.insert_before(element)
    return str(soup)


# --------------------------------------------------------------------------- the index
def table_html(table, *, caption: str = "") -> str:
    """A DataFrame as an escaped, classed table (no truncation)."""
    body = table.to_html(index=False, escape=True, na_rep="", border=0)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return mark_table_cells(body.replace("<thead>", cap + "<thead>", 1) if cap else body)


def markdown_html(text: str) -> str:
    """Markdown (a closing note) -> sanitised HTML."""
    import mistune

    return mark_table_cells(sanitize(mistune.html(text)))


def index_page(*, profile: str, sections: Sequence[str], title: str) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><div class='hi-page'>{''.join(sections)}</div></body></html>")
