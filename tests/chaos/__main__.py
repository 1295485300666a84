"""`python -m tests.chaos [pytest args]`: the full chaos suite (more kills and revisions than
the CI subset), on its own sandbox instance."""

from __future__ import annotations

import os
import sys

import pytest

if __name__ == "__main__":
    os.environ["ROLLOUTD_CHAOS_FULL"] = "1"
    os.environ.setdefault("ROLLOUTD_KEEP_SANDBOX", "1")
    sys.exit(pytest.main(["tests/chaos", "-v", *sys.argv[1:]]))
