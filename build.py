#!/usr/bin/env python3
"""Entry point: `python build.py COMMAND` is the same as `paperroute COMMAND`.

With no command it builds the demo site from content/ into site/.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paperroute.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
