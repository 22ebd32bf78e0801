"""A power cut (not just ``kill -9``) of the SD card under the SQLite stores: the fsync policy.

``kill -9`` keeps the OS page cache, so a commit that was written but never fsynced still
reaches the disk; it cannot tell ``synchronous=FULL`` from ``NORMAL``. Here the writer runs
with ``tests/powercut/powercut.so`` preloaded: after every successful ``fsync``/``fdatasync`` of
a file in the store's directory the shim copies that file, whole and atomically, into a shadow
directory. The shadow is what the card would hold if the power failed at that moment and the
page cache was lost ("everything not fsynced is lost"). The writer is killed mid-stream and the
test opens the *shadow* with the real classes:

* every message whose ``Outbox.put`` returned is there exactly once, and the database is sound;
* every alert that ``AlertEngine.observe`` returned is there, and is not raised again;
* the negative control, the same run with ``synchronous="NORMAL"``, does lose confirmed
  messages (in WAL mode NORMAL fsyncs only at checkpoints), so the harness can fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from vitalgate.gateway.outbox import Outbox

SHIM_SOURCE = Path(__file__).parent / "powercut" / "powercut.c"
CONFIRMATIONS = 400  # messages confirmed before the cut (the writer is usually a few ahead)
PAD = 1500  # payload bytes: the WAL reaches its auto-checkpoint (1000 pages) mid-run


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``powercut.so`` built from ``tests/powercut/powercut.c``. Without gcc: fail, never skip."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc not found: the power-cut tests compile tests/powercut/powercut.c "
                    "(install gcc, as CI does)")
    out = tmp_path_factory.mktemp("powercut") / "powercut.so"
    done = subprocess.run(
        [gcc, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(out), str(SHIM_SOURCE), "-ldl"],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot build {SHIM_SOURCE.name}:\n{done.stderr}")
    return out


@dataclass
class Cut:
    confirmed: list[str]  # what the writer printed, each after its commit returned
    shadow: Path  # the disk after the power cut
    fsyncs: list[str]  # the files the writer fsynced, in order ("./": the directory)

    def checkpoints(self, db: str) -> int:
        """Syncs of the database file after the WAL's first: checkpoints during the run."""
        wal = f"{db}-wal"
        return self.fsyncs[self.fsyncs.index(wal):].count(db) if wal in self.fsyncs else 0


def run_until_power_cut(shim: Path, tmp: Path, script: str, *args: str, after: int = CONFIRMATIONS) -> Cut:
    """Run ``script`` (printing one line per durable commit) with the shim, cut after ``after``."""
    data, shadow = tmp / "data", tmp / "shadow"
    data.mkdir(parents=True)
    shadow.mkdir()
    env = {**os.environ, "LD_PRELOAD": str(shim), "POWERCUT_DIR": str(data), "POWERCUT_SHADOW": str(shadow)}
    with (tmp / "writer.stderr").open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", script, str(data), *args],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        assert proc.stdout is not None
        confirmed: list[str] = []
        for line in proc.stdout:
            confirmed.append(line.strip())
            if len(confirmed) >= after:
                break
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: the writer is still committing
        # Lines already in the pipe were printed before the cut, after their commit returned.
        confirmed += [line.strip() for line in proc.stdout if line.endswith("\n")]
        proc.stdout.close()
        rc = proc.wait()
    stderr = (tmp / "writer.stderr").read_text()
    assert rc == -signal.SIGKILL, f"the writer ended by itself (rc {rc}) before the cut:\n{stderr}"
    assert len(confirmed) >= after, stderr
    log = shadow / ".fsync.log"
    fsyncs = log.read_text().split() if log.exists() else []
    return Cut(confirmed, shadow, fsyncs)


def open_outbox(path: Path) -> tuple[dict[str, int], dict[str, bytes], str]:
    """Topic -> copies, topic -> payload, integrity_check of the outbox at ``path``."""
    assert path.exists(), f"{path.name} was never fsynced: the power cut left no database"
    box = Outbox(path)
    box.open()
    try:
        integrity = box.db.execute("PRAGMA integrity_check").fetchone()[0]
        copies = dict(box.db.execute("SELECT topic, COUNT(*) FROM outbox GROUP BY topic").fetchall())
        payloads = {e.topic: e.payload for e in box.peek(1_000_000)}
    finally:
        box.close()
    return copies, payloads, integrity


# -- the shim itself ----------------------------------------------------------------------------

_FILE_WRITER = """
import os, sys
from pathlib import Path
d = Path(sys.argv[1])
def write(name, data, sync):
    fd = os.open(d / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.write(fd, data)
    if sync == "fsync": os.fsync(fd)
    if sync == "fdatasync": os.fdatasync(fd)
    os.close(fd)
write("a", b"one", "fsync")
write("a", b"-two", None)  # written, never synced
write("b", b"data", "fdatasync")
write("c", b"never synced", None)
write("gone", b"synced, then unlinked", "fsync")
os.unlink(d / "gone")
write("kept", b"synced, unlinked, directory not synced", "fsync")
fd = os.open(d, os.O_RDONLY); os.fsync(fd); os.close(fd)  # the removal of gone is durable
os.unlink(d / "kept")
print("done", flush=True)
import time; time.sleep(60)
"""


def test_shim_keeps_only_what_was_fsynced(shim: Path, tmp_path: Path) -> None:
    cut = run_until_power_cut(shim, tmp_path, _FILE_WRITER, after=1)
    files = {p.name: p.read_bytes() for p in cut.shadow.iterdir() if not p.name.startswith(".")}
    assert files == {
        "a": b"one",  # as of its fsync
        "b": b"data",
        "c": b"",  # the directory sync made its name durable, not its data
        "kept": b"synced, unlinked, directory not synced",
    }
    assert cut.fsyncs == ["a", "b", "gone", "kept", "./"]


# -- the outbox ---------------------------------------------------------------------------------

_OUTBOX_WRITER = """
import sys
from pathlib import Path
from vitalgate.gateway.outbox import Outbox
box = Outbox(Path(sys.argv[1]) / "outbox.sqlite", synchronous=sys.argv[2]); box.open()
pad = b"x" * int(sys.argv[3])
i = 0
while True:
    box.put(f"t/{i}", b"reading %d " % i + pad)
    print(i, flush=True)  # only after put() returned
    i += 1
"""


def payload(i: int) -> bytes:
    return b"reading %d " % i + b"x" * PAD


@pytest.mark.parametrize(("after", "least_checkpoints"), [(120, 0), (CONFIRMATIONS, 1), (1000, 3)],
                         ids=["before-checkpoint", "after-checkpoint", "three-checkpoints"])
def test_every_confirmed_put_survives_a_power_cut(
    shim: Path, tmp_path: Path, after: int, least_checkpoints: int
) -> None:
    """Cut in the first WAL, and after the WAL restarted over checkpointed frames."""
    cut = run_until_power_cut(shim, tmp_path, _OUTBOX_WRITER, "FULL", str(PAD), after=after)
    # FULL: each commit fsyncs the WAL; checkpoints (WAL, then database) happen every ~250 puts.
    assert cut.fsyncs.count("outbox.sqlite-wal") >= len(cut.confirmed)
    checkpoints = cut.checkpoints("outbox.sqlite")
    assert checkpoints >= least_checkpoints, "fewer checkpoints than planned: check PAD"
    print(f"FULL: {len(cut.confirmed)} confirmed, {cut.fsyncs.count('outbox.sqlite-wal')} WAL "
          f"fsync(s), {checkpoints} checkpoint(s)")
    copies, payloads, integrity = open_outbox(cut.shadow / "outbox.sqlite")
    assert integrity == "ok"
    topics = [f"t/{i}" for i in cut.confirmed]
    missing = [t for t in topics if t not in copies]
    assert not missing, f"{len(missing)} of {len(topics)} confirmed message(s) lost: {missing[:10]}"
    assert all(copies[t] == 1 for t in topics), "a confirmed message is stored twice"
    assert all(payloads[f"t/{i}"] == payload(int(i)) for i in cut.confirmed)
    # Nothing but whole commits: the one in flight at the cut is there entirely or not at all.
    assert set(copies) <= {f"t/{i}" for i in range(len(cut.confirmed) + 1)}


def test_negative_control_synchronous_normal_loses_confirmed_puts(shim: Path, tmp_path: Path) -> None:
    """The same run with ``synchronous=NORMAL`` must lose confirmed messages: proof the harness
    can fail. In WAL mode NORMAL syncs only at a checkpoint, so the commits after the last
    checkpoint are gone. A cut that happens to land just after a checkpoint (before the next
    put returns) loses nothing even under NORMAL; that run is repeated, at most three times."""
    for attempt in range(3):
        cut = run_until_power_cut(shim, tmp_path / f"run{attempt}", _OUTBOX_WRITER, "NORMAL", str(PAD))
        # NORMAL: the WAL is fsynced only by checkpoints, far fewer than the commits.
        wal_syncs = cut.fsyncs.count("outbox.sqlite-wal")
        assert wal_syncs < len(cut.confirmed) // 10
        copies, _, integrity = open_outbox(cut.shadow / "outbox.sqlite")
        assert integrity == "ok"  # consistent, only older
        kept = [i for i in cut.confirmed if f"t/{i}" in copies]
        lost = [i for i in cut.confirmed if f"t/{i}" not in copies]
        # What survives is a prefix (up to the last checkpoint); the newest commits are lost.
        assert kept == cut.confirmed[: len(kept)]
        if lost:
            break
    print(f"NORMAL: {len(lost)} of {len(cut.confirmed)} confirmed lost, {wal_syncs} WAL fsync(s), "
          f"{cut.checkpoints('outbox.sqlite')} checkpoint(s), attempt {attempt + 1}")
    assert lost, "synchronous=NORMAL lost nothing in three power cuts: the harness cannot fail"


# -- the alert engine ---------------------------------------------------------------------------

_ALERT_WRITER = """
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from vitalgate.cloud_bridge.wire import Observation
from vitalgate.gateway.alerts import AlertEngine
from vitalgate.readings import DeviceIdentity, Reading
from vitalgate.vocabulary import Kind
cuff = DeviceIdentity("AA:00:00:00:00:01", model="BP-X1", manufacturer="Acme", serial="SN1", firmware="1.0")
engine = AlertEngine("hut7", "gw-a", Path(sys.argv[1]) / "alerts.sqlite")
t0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
i = 0
while True:
    at = t0 + timedelta(seconds=i)
    r = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 186.0, "diastolic": 104.0}, at, cuff)
    obs = Observation.from_reading(r, site="hut7", gateway="gw-a", resident=f"r-{i:05d}")
    for a in engine.observe(obs):  # one urgent BP alert per new resident
        print(i, a.alert_id, flush=True)  # only after observe() committed it
    i += 1
"""


def test_every_returned_alert_survives_a_power_cut(shim: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from vitalgate.cloud_bridge.wire import Observation
    from vitalgate.gateway.alerts import AlertEngine
    from vitalgate.readings import DeviceIdentity, Reading
    from vitalgate.vocabulary import Kind

    cut = run_until_power_cut(shim, tmp_path, _ALERT_WRITER, after=200)
    assert cut.fsyncs.count("alerts.sqlite-wal") >= len(cut.confirmed)
    print(f"alerts: {len(cut.confirmed)} returned, {cut.checkpoints('alerts.sqlite')} checkpoint(s)")
    printed = dict(line.split() for line in cut.confirmed)  # reading index -> alert id
    db = cut.shadow / "alerts.sqlite"
    assert db.exists(), "alerts.sqlite was never fsynced"
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    engine = AlertEngine("hut7", "gw-a", db)  # the real restart path: restores history, episodes
    try:
        stored = {a.alert_id: a for a in engine.all_alerts()}
        missing = [i for i, aid in printed.items() if aid not in stored]
        assert not missing, f"{len(missing)} of {len(printed)} returned alert(s) lost: {missing[:10]}"
        assert all(stored[aid].resident == f"r-{int(i):05d}" for i, aid in printed.items())
        # The episode was committed with the alert: the same reading again raises nothing.
        last = max(printed, key=int)
        cuff = DeviceIdentity("AA:00:00:00:00:01", model="BP-X1", manufacturer="Acme", serial="SN1",
                              firmware="1.0")
        at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC) + timedelta(seconds=int(last))
        r = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 186.0, "diastolic": 104.0}, at, cuff)
        again = Observation.from_reading(r, site="hut7", gateway="gw-a", resident=f"r-{int(last):05d}")
        assert engine.observe(again) == []
    finally:
        engine.close()
