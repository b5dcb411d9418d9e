"""`python -m engine.mmm data.csv` (or `--demo`): the command line of engine/cli/mmm.py."""

import sys

from engine.cli.mmm import main

sys.exit(main())
