"""Tables for the study: CSV, Markdown and LaTeX side by side, written atomically.

``compare`` puts the report's published number beside ours with the
difference, which is what every notebook's closing "report vs ours" table is.

The LaTeX is meant to be ``\\input`` into a document with ``\\usepackage{booktabs, array,
longtable, graphicx}`` (:data:`LATEX_PACKAGES`): booktabs rules, numbers right-aligned, short
text left-aligned, headers wrapped between words, and long text (a claim, a verdict's
evidence) in ragged-right ``p{}`` columns that share what is left of the line, so no sentence
runs off the page; the font gets smaller for wide tables, and a table of more than
:data:`LONG_TABLE_ROWS` rows is a ``longtable`` that breaks across pages.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from lib import cache

#: What a document needs to \input the tables (all in Debian's texlive-latex-base / -recommended).
LATEX_PACKAGES = ("booktabs", "array", "longtable", "graphicx")
#: Tables with more rows than this break across pages (longtable) instead of floating.
LONG_TABLE_ROWS = 25
#: A text column wider than this many characters gets a wrapping p{} column.
_WRAP_CHARS = 24


def save_table(table: pd.DataFrame, path: str | Path, *, caption: str = "",
               float_format: str = "{:.4g}", index: bool = False) -> dict[str, Path]:
    """Write ``table`` as ``<path>.csv``, ``.md`` and ``.tex`` (the suffix of ``path`` is ignored).

    CSV keeps full precision for re-analysis; Markdown and LaTeX are rounded for reading.
    """
    stem = Path(path).with_suffix("")
    out = {}
    with cache.atomic_path(stem.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=index)
    out["csv"] = stem.with_suffix(".csv")
    shown = _rounded(table, float_format)
    md = shown.to_markdown(index=index)
    if caption:
        md = f"{md}\n\n: {caption}\n"
    out["md"] = cache.atomic_write_text(md + "\n", stem.with_suffix(".md"))
    shown = shown.reset_index() if index else shown
    out["tex"] = cache.atomic_write_text(latex(shown, caption=caption, label=f"tab:{stem.name}"),
                                         stem.with_suffix(".tex"))
    return out


def save_and_show(table: pd.DataFrame, path: str | Path, *, caption: str, note: str = "",
                  **kwargs) -> dict[str, Path]:
    """:func:`save_table`, then the caption in bold (and ``note`` after it) in the notebook, so
    the reader sees what the files say the table is."""
    from IPython.display import Markdown, display

    out = save_table(table, path, caption=caption, **kwargs)
    display(Markdown(f"**{caption}**" + (f" {note}" if note else "")))
    return out


def show_whole() -> None:
    """Notebooks show every table whole: no cell cut to "...", no rows or columns elided
    (pandas' defaults cut cells at 50 characters, which hid verdicts and their evidence)."""
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_columns", None)
    pd.set_option("display.max_rows", 500)
    pd.set_option("display.width", 250)


def _rounded(table: pd.DataFrame, float_format: str) -> pd.DataFrame:
    shown = table.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else float_format.format(v))
    return shown


# --------------------------------------------------------------------------- LaTeX
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
#: Characters pdflatex's default input encoding does not know, written as commands.
_TEX_UNICODE = {"≤": r"$\le$", "≥": r"$\ge$", "±": r"$\pm$", "×": r"$\times$", "·": r"$\cdot$",
                "→": r"$\to$", "←": r"$\leftarrow$", "≈": r"$\approx$", "≠": r"$\ne$", "∞": r"$\infty$",
                "−": "-", "–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "…": r"\ldots{}",
                "ε": r"$\varepsilon$", "δ": r"$\delta$", "σ": r"$\sigma$", "μ": r"$\mu$", "α": r"$\alpha$",
                "β": r"$\beta$", "λ": r"$\lambda$", "τ": r"$\tau$", "θ": r"$\theta$", "√": r"$\surd$",
                "²": r"\textsuperscript{2}", "°": r"\textdegree{}", "\u00a0": "~"}
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?%?$|^(nan|inf|-inf)$", re.IGNORECASE)


def tex_escape(text: str) -> str:
    """Plain text -> LaTeX that pdflatex compiles: specials escaped, common symbols as commands,
    other non-ASCII letters as their closest ASCII spelling (or "?")."""
    out = []
    for ch in str(text):
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ch in _TEX_UNICODE:
            out.append(_TEX_UNICODE[ch])
        elif ch in "\n\r\t":
            out.append(" ")
        elif ord(ch) < 128 or (ord(ch) < 256 and unicodedata.category(ch).startswith("L")):
            out.append(ch)  # ASCII, and the accented letters of utf8 inputenc with T1 fonts
        else:
            plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(tex_escape(plain) if plain else "?")
    return "".join(out)


#: The text block the widths are planned for: A4 with 2.5 cm margins (about 455 pt).
_LINE_PT = 455.0
#: Font sizes tried in turn until the columns that do not wrap fit: (command, size in pt, \tabcolsep in pt).
_SIZES = (("\\small", 9.0, 6.0), ("\\footnotesize", 8.0, 4.0), ("\\scriptsize", 7.0, 3.0))
#: The narrowest a wrapping column may get, in em.
_MIN_WRAP_EM = 8.0


def _plan_columns(cells: list[list[str]], header: list[str]) -> tuple[list[str], str, str, float]:
    """The column specs, the font size command, the \\tabcolsep and the table's estimated width
    in lines (above 0.88 it must be shrunk or turned). Every column is a ``p{}`` so that headers wrap between words:
    numbers right-aligned at their widest value's width, short text left-aligned likewise,
    long text (more than ``_WRAP_CHARS`` characters) ragged-right sharing what is left of the line."""
    n = len(header)
    plain = [[_plain_text(c) for c in row] for row in cells]
    word = [max([_em(w, bold=True) for w in header[j].split()] + [1.0]) for j in range(n)]
    longest = [max([len(r[j]) for r in plain] + [1]) for j in range(n)]
    widest = [max([_em(r[j]) for r in plain] + [0.5]) for j in range(n)]
    numeric = [any(r[j].strip() for r in plain) and all(_NUMBER.match(r[j].strip()) or not r[j].strip() for r in plain)
               for j in range(n)]
    wrap = [not numeric[j] and longest[j] > _WRAP_CHARS for j in range(n)]
    width = [max(word[j], widest[j]) + 0.2 if not wrap[j] else 0.0 for j in range(n)]
    def needed(pt: float, sep: float) -> float:
        return pt * (sum(width) + _MIN_WRAP_EM * sum(wrap)) + 2 * sep * n

    # The widths are estimates: keep a margin.
    size, pt, sep = next((c for c in _SIZES if needed(*c[1:]) <= 0.88 * _LINE_PT), _SIZES[-1])
    need = needed(pt, sep)
    if need > 0.88 * _LINE_PT:  # it will be shrunk to the line as a whole: wrapping columns get a fixed width
        width = [w if not wrap[j] else max(word[j], min(widest[j], 2 * _MIN_WRAP_EM)) for j, w in enumerate(width)]
        wrap = [False] * n
    fixed_em = sum(width)
    weights = [math.sqrt(longest[j]) if wrap[j] else 0.0 for j in range(n)]
    total = sum(weights) or 1.0
    specs = []
    for j in range(n):
        if wrap[j]:
            share = int(1000 * weights[j] / total)
            rest = f"(\\linewidth - {fixed_em:.2f}em - {2 * n}\\tabcolsep) * {share} / 1000"
            specs.append(f">{{\\raggedright\\arraybackslash}}p{{\\dimexpr {rest}\\relax}}")
        else:
            align = "\\raggedleft" if numeric[j] else "\\raggedright"
            specs.append(f">{{{align}\\arraybackslash}}p{{{width[j]:.2f}em}}")
    return specs, size, f"{sep:g}pt", need / _LINE_PT


def _em(text: str, bold: bool = False) -> float:
    """About how wide ``text`` prints in Computer Modern, in em (widths from its font metrics,
    rounded per kind of character); bold is about 20 % wider."""
    em = 0.0
    for ch in text:
        if ch in "mwMW":
            em += 0.85
        elif ch.isupper() or ch in "%&@":
            em += 0.74
        elif ch.isdigit() or ch.isalpha() or ch in "_#$?~^":
            em += 0.52
        else:  # spaces, punctuation, brackets
            em += 0.36
    return em * (1.22 if bold else 1.0)


def _plain_text(tex: str) -> str:
    """Roughly what a cell of LaTeX prints (for measuring): commands dropped, escapes undone."""
    return re.sub(r"\\allowbreak\{\}", "", re.sub(r"\\([&%$#_{}])", r"\1", tex))


def latex(table: pd.DataFrame, *, caption: str = "", label: str = "") -> str:
    """``table`` (its cells already rounded for reading) as a booktabs table: a float, or a
    ``longtable`` when it has more than :data:`LONG_TABLE_ROWS` rows. See the module docstring."""
    header = [tex_escape(c) for c in map(str, table.columns)]
    cells = [["" if v is None or (isinstance(v, float) and math.isnan(v)) else _breakable(tex_escape(v)) for v in row]
             for row in table.astype(object).itertuples(index=False)]
    specs, size, sep, lines = _plan_columns(cells, [str(c) for c in table.columns])
    colspec = "@{}" + "".join(specs) + "@{}"
    head = " & ".join(f"\\textbf{{{h}}}" for h in header) + r" \\"
    body = "\n".join(" & ".join(r) + r" \\" for r in cells)
    cap = tex_escape(caption)
    lab = f"\\label{{{re.sub(r'[^A-Za-z0-9:_-]', '-', label)}}}" if label else ""
    note = f"% {cap[:200]}\n% needs \\usepackage{{{','.join(LATEX_PACKAGES)}}}\n"
    if len(cells) > LONG_TABLE_ROWS:
        caption_line = (f"\\caption{{{cap}}}{lab}\\\\\n" if cap else "")
        return (f"{note}{{{size}\\setlength{{\\tabcolsep}}{{{sep}}}\n\\begin{{longtable}}{{{colspec}}}\n"
                f"{caption_line}\\toprule\n{head}\n\\midrule\n\\endfirsthead\n"
                f"\\multicolumn{{{len(header)}}}{{@{{}}l}}{{\\emph{{(continued)}}}}\\\\\n"
                f"\\toprule\n{head}\n\\midrule\n\\endhead\n\\bottomrule\n\\endlastfoot\n{body}\n"
                f"\\end{{longtable}}}}\n")
    caption_line = f"\\caption{{{cap}}}{lab}\n" if cap else ""
    tabular = (f"\\begin{{tabular}}{{{colspec}}}\n\\toprule\n{head}\n\\midrule\n{body}\n\\bottomrule\n"
               f"\\end{{tabular}}")
    if lines > 1.3:  # far too wide even in the smallest size: turned sideways, fit to the page's height
        tabular = f"\\rotatebox{{90}}{{\\resizebox{{0.9\\textheight}}{{!}}{{%\n{tabular}}}}}"
    elif lines > 0.88:  # a little too wide: shrunk to the line
        tabular = f"\\resizebox{{\\linewidth}}{{!}}{{%\n{tabular}}}"
    return (f"{note}\\begin{{table}}[htbp]\n\\centering\n{size}\\setlength{{\\tabcolsep}}{{{sep}}}\n"
            f"{caption_line}{tabular}\n\\end{{table}}\n")


def _breakable(tex: str) -> str:
    """Let a long token (a file name, a list without spaces) break after ``_``, ``/``, ``,`` or ``=``."""
    return re.sub(r"(\\_|/|,|=)(?=\S)", r"\1\\allowbreak{}", tex)


def latex_document(inputs: list[str], title: str = "") -> str:
    """A document that compiles every table of ``inputs`` (paths for ``\\input``, relative to it)."""
    lines = ["\\documentclass[a4paper,10pt]{article}", "\\usepackage[utf8]{inputenc}",
             "\\usepackage[margin=2.5cm]{geometry}", f"\\usepackage{{{','.join(LATEX_PACKAGES)}}}",
             "\\usepackage{textcomp}", "\\begin{document}"]
    if title:
        lines.append(f"\\section*{{{tex_escape(title)}}}")
    lines += [f"\\input{{{p}}}\n\\clearpage" for p in inputs] + ["\\end{document}", ""]
    return "\n".join(lines)


def compare(rows: Mapping[str, tuple[float | None, float | None]] | pd.DataFrame,
            *, unit: str = "%") -> pd.DataFrame:
    """A "report vs ours" table: quantity, report, ours, difference (ours - report).

    ``rows`` maps a quantity's name to ``(report_value, our_value)``; either may be
    ``None`` where one side has no number (shown as empty, difference empty).
    """
    if isinstance(rows, pd.DataFrame):
        table = rows[["quantity", "report", "ours"]].copy()
    else:
        table = pd.DataFrame([{"quantity": k, "report": v[0], "ours": v[1]}
                              for k, v in rows.items()])
    table["report"] = pd.to_numeric(table["report"], errors="coerce")
    table["ours"] = pd.to_numeric(table["ours"], errors="coerce")
    table["difference"] = table["ours"] - table["report"]
    table["unit"] = unit
    return table
