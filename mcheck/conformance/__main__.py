"""`python -m mcheck.conformance COMMAND ...`: the device and conformance sub-commands without the main CLI."""

import sys

from mcheck.conformance.cli import main

sys.exit(main())
