"""The example task templates and the demo's input, shipped inside the package.

``taskloader demo`` reads them from here, so it works from an installed wheel and from the
container image as well as from a clone (where ``config/templates`` and ``config/demo`` link
here).
"""

from __future__ import annotations

from pathlib import Path

#: Holds ``templates/*.json`` and ``demo/callbacks.csv``.
EXAMPLES_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = EXAMPLES_DIR / "templates"
DEMO_ROWS = EXAMPLES_DIR / "demo" / "callbacks.csv"
