"""Real servers for tests, on loopback only: mosquitto and VictoriaMetrics.

Each fixture starts its own process on a free 127.0.0.1 port in a temporary directory and stops
it afterwards. A server that cannot start fails the test (never skips it).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _which(name: str, *extra: str) -> str:
    for cand in (shutil.which(name), *extra):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise RuntimeError(f"{name} is not installed; run scripts/setup --test")


def wait_port(port: int, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


@dataclass
class Mosquitto:
    """A mosquitto broker. ``extra_conf`` lines are appended to its config (TLS, ACL...)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    extra_conf: str = ""
    allow_anonymous: bool = True
    listener_conf: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"{self.listener_conf}"
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}\n"
            "persistence false\n"
            "max_inflight_messages 1000\n"
            "max_queued_messages 1000000\n"
            "message_size_limit 0\n"
            # Run as the invoking user: as root, mosquitto would switch to its own account, which
            # cannot read the test's keys or write its log into the private temporary directory.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            f"log_dest file {self.workdir / 'mosquitto.log'}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            f"{self.extra_conf}"
        )
        exe = _which("mosquitto", "/usr/sbin/mosquitto")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        p = self.workdir / "mosquitto.log"
        return p.read_text(errors="replace") if p.exists() else ""


@dataclass
class VictoriaMetrics:
    """A single-node VictoriaMetrics. Accepts influxdb-client writes at ``/api/v2/write``.

    ``-dedup.minScrapeInterval=1ms`` makes a re-sent point (same series, same timestamp) count
    once, which is how idempotent ingest is realised on VictoriaMetrics.
    """

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VictoriaMetrics:
        self.workdir.mkdir(parents=True, exist_ok=True)
        exe = _which("victoria-metrics", "/usr/bin/victoria-metrics")
        self.proc = subprocess.Popen(
            [
                exe,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.workdir / 'data'}",
                "-dedup.minScrapeInterval=1ms",
                "-search.latencyOffset=0s",
                "-search.disableCache",
                "-retentionPeriod=100y",
                "-loggerLevel=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, proc=self.proc)
        return self

    def flush(self) -> None:
        """Make everything written so far searchable (VictoriaMetrics buffers for ~1 s)."""
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10).read()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@contextlib.contextmanager
def running(server: Mosquitto | VictoriaMetrics) -> Iterator[Mosquitto | VictoriaMetrics]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
