"""Write a notebook from a list of cells: a tiny helper for authoring notebooks as code.

    from tools.nbbuild import md, code, write
    write("notebooks/x.ipynb", [md("# Title"), params(), code("print(1)")])

Source notebooks are written without outputs, with the project's kernel, and with
the papermill ``parameters`` tag on the parameters cell.
"""
from __future__ import annotations

import nbformat

KERNELSPEC = {"name": "adversarial-study", "display_name": "Python (adversarial-study)",
              "language": "python"}


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str, tags: list[str] | None = None):
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = tags
    return cell


def params():
    return code('profile = None  # "smoke" | "quick" | "paper"; None: paper on a GPU, quick otherwise\n'
                'overrides = {}  # e.g. {"epochs": 1}: any parameter of the profile',
                tags=["parameters"])


def write(path: str, cells: list) -> None:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    nbformat.write(nb, path)
