"""Executes notebooks with nbclient (a real Jupyter kernel). Usage: run.py NOTEBOOK...
Inputs come from the environment the caller sets (SCALE_EVAL_DIR, SCALE_BACKTEST_DIR,
SCALE_NOTEBOOK_OUT); any cell error fails with the cell's traceback."""
import sys

import nbformat
from nbclient import NotebookClient

for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    print(f"executed {path}: {len(nb.cells)} cells")
