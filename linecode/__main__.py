"""``python -m linecode``."""

import sys

from linecode.cli import main

sys.exit(main())
