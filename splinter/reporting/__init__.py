"""``python -m splinter.report``: the command (report.py, also ``python -m splinter.reporting``), reading a
sweep's job directories (runs.py), placing runs into table cells (cells.py), how runs were selected
(selection.py) and the paper's published numbers to compare against (paper.py)."""
