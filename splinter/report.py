"""`python -m splinter.report`: the command's entry point; the code is splinter.reporting.report."""
import sys

from splinter.reporting.report import main

if __name__ == "__main__":
    sys.exit(main())
