"""Synthetic learning platform: landing files, learner and outcome tables that follow the raw data contract.

``generate(out_dir, GeneratorConfig(...))`` (``generate``), the learners and their behaviour
(``learners``), the line formats and injected faults (``landing``). ``python -m lab.generator --help``.
"""

from lab.generator.config import GeneratorConfig
from lab.generator.generate import MANIFEST_FILE, RAW_ID_PATTERNS, Manifest, generate, main

__all__ = ["MANIFEST_FILE", "RAW_ID_PATTERNS", "GeneratorConfig", "Manifest", "generate", "main"]
