"""Where the repository and the shared data are, for tests in any tier."""

from __future__ import annotations

import os
from pathlib import Path

#: the repository's root (the folder holding pyproject.toml)
REPO = Path(__file__).resolve().parents[2]
#: ``../shared/data`` beside the project (CI has it; a user's clone does not), or $IGW_SHARED_DATA
SHARED_DATA = Path(os.environ.get("IGW_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()
