"""`python -m agentwatch`."""

import sys

from agentwatch.cli import main

sys.exit(main())
