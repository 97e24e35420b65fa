"""`python -m paperroute` runs the same command line as `build.py` and `paperroute`."""

import sys

from paperroute.cli import main

sys.exit(main())
