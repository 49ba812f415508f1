"""The notebooks run as tests (nbmake) in their short mode."""

import os

os.environ.setdefault("MAKEUP_NOTEBOOK_QUICK", "1")
