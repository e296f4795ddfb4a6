"""`python -m splinter.reporting` (same as `python -m splinter.report`)."""
import sys

from splinter.reporting.report import main

sys.exit(main())
