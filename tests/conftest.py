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


@pytest.fixture
def mosquitto(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real mosquitto on a free loopback port (anonymous, no persistence)."""
    from servers import Mosquitto

    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


@pytest.fixture
def victoria(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real single-node VictoriaMetrics on a free loopback port."""
    from servers import VictoriaMetrics

    vm = VictoriaMetrics(tmp_path / "vm").start()
    yield vm
    vm.stop()
