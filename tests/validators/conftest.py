"""The validator tests import their helpers and fixtures from the unit modules they were split from (`unit.<module>`);
those modules import their siblings by bare name, as pytest lets them in tests/unit, so that folder is on the path."""

import sys
from pathlib import Path

UNIT = str(Path(__file__).resolve().parents[1] / "unit")
if UNIT not in sys.path:
    sys.path.append(UNIT)
