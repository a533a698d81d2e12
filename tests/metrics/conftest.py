"""Makes the shared metric tester importable as ``_tester`` whatever pytest's import mode."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
