"""``python -m lab.generator``: write a synthetic landing area (``--help`` lists every option)."""

import sys

from lab.generator.generate import main

sys.exit(main())
