"""``python -m simworld.cli`` is the ``simworld`` command."""

import sys

from simworld.cli import main

sys.exit(main())
