"""The pieces behind ``python -m splinter.report``: reading a sweep's job directories (runs.py), placing
runs into table cells (cells.py) and the paper's published numbers to compare against (paper.py)."""
