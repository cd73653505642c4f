"""`python -m mcheck.device emulate ...`: the software device without the main CLI."""

import sys

from mcheck.device.cli import main

sys.exit(main())
