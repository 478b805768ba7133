"""`python -m eifdiff` runs the command line."""

import sys

from eifdiff.cli import main

sys.exit(main())
