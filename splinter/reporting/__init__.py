"""The pieces behind ``python -m splinter.report``: reading a sweep's job directories (runs.py), placing
runs into table cells (cells.py), how runs were selected and the Optuna studies' section (selection.py)
and the paper's published numbers to compare against (paper.py)."""
