"""Entry point of `python3 -m patchpilot.client` and of the zipapp."""

import sys

from patchpilot.client.cli import main

sys.exit(main())
