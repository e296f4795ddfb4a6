"""`python -m splinter.download`: the command's entry point; the code is splinter.data.release.download."""
import sys

from splinter.data.release.download import main

if __name__ == "__main__":
    sys.exit(main())
