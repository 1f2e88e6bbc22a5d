"""Executes every notebook in notebooks/ with nbclient against the installed
rankbook kernel (JUPYTER_PATH set by the caller); fails on any error output,
or on a cell tagged "plot" without an image; writes the executed copies to
the directory given as the first argument."""

import os
import sys

import nbformat
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOKS = os.path.join(HERE, "..", "..", "notebooks")


def main(out_dir):
    names = sorted(n for n in os.listdir(NOTEBOOKS) if n.endswith(".ipynb"))
    assert names, "no notebooks"
    for name in names:
        nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
        NotebookClient(nb, kernel_name="rankbook", timeout=900,
                       resources={"metadata": {"path": NOTEBOOKS}}).execute()
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            for out in cell.outputs:
                if out.output_type == "error":
                    sys.exit(f"{name} cell {i}: {out.ename}: {out.evalue}")
            if "plot" in cell.metadata.get("tags", []):
                mimes = {m for out in cell.outputs for m in out.get("data", {})}
                if not mimes & {"image/svg+xml", "image/png"}:
                    sys.exit(f"{name} cell {i}: a plot cell without an image (outputs: {mimes})")
        nbformat.write(nb, os.path.join(out_dir, name))
        print(f"executed {name}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
