"""`python -m mcheck.device COMMAND ...`: the device sub-commands without the main CLI."""

import sys

from mcheck.device.cli import main

sys.exit(main())
