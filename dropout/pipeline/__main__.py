"""``python -m dropout.pipeline``: run the training pipeline, or one node of a run (``runner``)."""

import sys

from dropout.pipeline.runner import main

sys.exit(main())
