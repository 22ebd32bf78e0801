"""Shared fixtures: the real data beside the clone, real servers on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (PhysioNet records, GATT vectors). Missing data fails, never skips."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} is missing: tests read the real data from ../shared/data")
    return SHARED_DATA
