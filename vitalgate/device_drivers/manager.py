"""The connection manager: scan, recognise, connect with retries, run the driver, come back.

It is a :class:`vitalgate.gateway.ports.DeviceSource`: ``await manager.run(emit)``. It speaks
only bleak, so the same code runs on BlueZ (a Raspberry Pi) and on the bumble backend (tests,
demo); :func:`bleak_backends` is the one seam where the configuration picks the backend.

Per device, a worker task:

1. waits for an advertisement of the device (a BP monitor only advertises after a measurement);
2. connects with bleak-retry-connector-style attempts: each bounded by ``connect_timeout_s``,
   ``attempts`` of them, capped exponential backoff with full jitter in between;
3. bonds first when the profile needs it (``pair=True``);
4. runs the profile's driver until it finishes or the link drops, remembering the last record
   sequence number emitted, so a download cut mid-transfer resumes after that record;
5. repeats. The reason of a state change is logged once, not at every retry.

Only allow-listed (paired) devices are connected. Many devices run at once, each in its own task
of one :class:`asyncio.TaskGroup`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError

from vitalgate.config import BleSettings
from vitalgate.errors import DeviceError, MalformedPayload
from vitalgate.readings import DeviceOutput, Reading
from vitalgate.service import cancel_and_wait, honour_swallowed_cancel

logger = logging.getLogger(__name__)

Emit = Callable[[DeviceOutput], Awaitable[None]]


def bleak_backends(
    ble: BleSettings,
) -> tuple[type[BaseBleakScanner] | None, type[BaseBleakClient] | None]:
    """The bleak backend classes the configuration selects (``None``: bleak's platform default).

    ``ble.backend = "bleak"`` uses BlueZ on Linux; ``"bumble"`` uses the in-process emulated link
    named ``ble.bumble_link``.
    """
    if ble.backend == "bumble":
        from vitalgate.device_drivers.bumble_backend import backends

        return backends(ble.bumble_link)
    return None, None


def ble_source(ble: BleSettings) -> ConnectionManager | None:
    """The gateway's BLE DeviceSource from settings, or ``None`` when no device is paired."""
    from vitalgate.device_drivers.pairing import allow_list
    from vitalgate.device_drivers.recognition import recognizer

    if not allow_list(ble):
        logger.info("no paired Bluetooth device: pair one with `vitalgate devices pair ADDRESS`")
        return None
    return ConnectionManager.from_settings(ble, recognizer())


@dataclass
class DeviceStats:
    """Counters per device, for logs, ``devices`` commands and tests."""

    connections: int = 0
    failed_attempts: int = 0
    link_losses: int = 0
    outputs: int = 0
    duplicates: int = 0
    malformed: int = 0
    state: str = "idle"


@dataclass
class Session:
    """What a driver gets for one connection.

    ``last_sequence`` is the highest record sequence number already emitted for this device
    (``None`` before the first): a driver downloading stored records asks for the ones after it.
    """

    client: BleakClient
    address: str
    name: str | None
    emit: Emit
    last_sequence: int | None = None
    stats: DeviceStats = field(default_factory=lambda: DeviceStats())

    def malformed(self, err: MalformedPayload) -> None:
        """Report a payload that could not be decoded; the connection is kept."""
        self.stats.malformed += 1
        logger.warning("%s (%s): rejected a malformed payload: %s", self.address, self.name, err)


class Driver(Protocol):
    """Runs one connection of one device: subscribe, download, stream, until done or dropped."""

    async def run(self, session: Session) -> None: ...


class Profile(Protocol):
    """A recognised device model: its id, whether it needs bonding, and its driver."""

    @property
    def id(self) -> str: ...

    @property
    def needs_bonding(self) -> bool: ...

    def driver(self) -> Driver: ...


#: Recognises a device from its advertisement: a :class:`Profile`, or ``None`` if unsupported.
Recognizer = Callable[[BLEDevice, AdvertisementData], Profile | None]


@dataclass(frozen=True)
class RetryPolicy:
    """Connection attempts and backoff (bleak-retry-connector's defaults, adapted)."""

    attempts: int = 4
    connect_timeout_s: float = 20.0
    backoff_min_s: float = 0.25
    backoff_max_s: float = 30.0
    #: Pause after a session that ended normally before serving the device again.
    revisit_s: float = 1.0

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Capped exponential backoff with full jitter, after ``failures`` failures (>= 1)."""
        cap = min(self.backoff_max_s, self.backoff_min_s * 2 ** max(0, failures - 1))
        return rng.uniform(self.backoff_min_s, max(self.backoff_min_s, cap))


@dataclass
class _Worker:
    address: str
    profile: Profile
    seen: asyncio.Event = field(default_factory=asyncio.Event)
    device: BLEDevice | None = None
    name: str | None = None
    last_sequence: int | None = None
    stats: DeviceStats = field(default_factory=DeviceStats)


class ConnectionManager:
    """Connects to allow-listed devices it recognises and runs their drivers (a DeviceSource).

    Parameters
    ----------
    recognize:
        Advertisement -> :class:`Profile` (or ``None`` for unsupported devices).
    allow:
        Addresses of paired devices; only these are connected.
    scanner_backend, client_backend:
        bleak backend classes (from :func:`bleak_backends`); ``None`` for the platform's.
    retry:
        Attempts, per-attempt timeout and backoff.
    """

    def __init__(
        self,
        recognize: Recognizer,
        allow: Iterable[str],
        *,
        scanner_backend: type[BaseBleakScanner] | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        retry: RetryPolicy = RetryPolicy(),
        seed: int | None = None,
    ) -> None:
        self.recognize = recognize
        self.allow = {a.upper() for a in allow}
        self.scanner_backend = scanner_backend
        self.client_backend = client_backend
        self.retry = retry
        self.rng = random.Random(seed)
        self.workers: dict[str, _Worker] = {}
        self.ignored: set[str] = set()
        self._tg: asyncio.TaskGroup | None = None
        self._emit: Emit | None = None
        self._change = asyncio.Event()

    @classmethod
    def from_settings(cls, ble: BleSettings, recognize: Recognizer, **kw: Any) -> ConnectionManager:
        """A manager configured by the ``[ble]`` settings (backend seam, allow-list, timeouts)."""
        from vitalgate.device_drivers.pairing import allow_list

        scanner, client = bleak_backends(ble)
        retry = RetryPolicy(connect_timeout_s=ble.connect_timeout_s)
        return cls(
            recognize, allow_list(ble), scanner_backend=scanner, client_backend=client, retry=retry, **kw
        )

    def stats(self, address: str) -> DeviceStats:
        return self.workers[address.upper()].stats

    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds; it is re-checked at every state change of a device."""
        while not predicate():
            await self._change.wait()

    async def run(self, emit: Emit) -> None:
        """Scan and serve devices until cancelled."""
        self._emit = emit
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            scanner = BleakScanner(self._on_advertisement, backend=self.scanner_backend)
            async with scanner:
                while True:  # until cancelled; a stop swallowed on the way (a library turning
                    # the cancellation into an error or a normal end while the task was busy)
                    # is honoured within a second, not left to hang the shutdown
                    honour_swallowed_cancel()
                    await asyncio.sleep(1.0)

    def _on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        address = device.address.upper()
        worker = self.workers.get(address)
        if worker is None:
            if address not in self.allow or address in self.ignored:
                return
            profile = self.recognize(device, adv)
            if profile is None:
                logger.info("%s (%s): paired but not a supported model; ignored", address, adv.local_name)
                self.ignored.add(address)
                return
            worker = _Worker(address, profile)
            self.workers[address] = worker
            assert self._tg is not None
            self._tg.create_task(self._serve(worker), name=f"device-{address}")
            logger.info("%s (%s): recognised as %s", address, adv.local_name, profile.id)
        worker.device = device
        worker.name = adv.local_name or worker.name
        worker.seen.set()

    def _set_state(self, worker: _Worker, state: str, reason: str = "") -> None:
        if worker.stats.state != state:
            logger.info("%s: %s -> %s%s", worker.address, worker.stats.state, state, f" ({reason})" if reason else "")
            worker.stats.state = state
        self._changed()

    async def _serve(self, worker: _Worker) -> None:
        failures = 0
        while True:
            # A cancellation swallowed on the way (bleak/bumble may turn one into an error)
            # still counts: honour it rather than wait for the next advertisement.
            honour_swallowed_cancel()
            self._set_state(worker, "waiting", "for an advertisement")
            await worker.seen.wait()
            worker.seen.clear()
            try:
                if await self._connect_and_run(worker):
                    await asyncio.sleep(self.retry.revisit_s)
                failures = 0
            except (BleakError, DeviceError, TimeoutError) as err:
                failures += 1
                worker.stats.failed_attempts += 1
                delay = self.retry.backoff(failures, self.rng)
                self._set_state(worker, "backoff", str(err))
                await asyncio.sleep(delay)
                worker.seen.set()  # try again: it was seen recently

    async def _connect(self, worker: _Worker, disconnected: asyncio.Event) -> BleakClient:
        last: Exception | None = None
        for attempt in range(1, self.retry.attempts + 1):
            target: BLEDevice | str = worker.device or worker.address
            client = BleakClient(
                target,
                disconnected_callback=lambda _c: disconnected.set(),
                timeout=self.retry.connect_timeout_s,
                pair=worker.profile.needs_bonding,
                backend=self.client_backend,
            )
            self._set_state(worker, "connecting")
            try:
                async with asyncio.timeout(self.retry.connect_timeout_s):
                    await client.connect()
                return client
            except (BleakError, TimeoutError) as err:
                last = err
                worker.stats.failed_attempts += 1
                self._changed()
                logger.debug("%s: attempt %d/%d failed: %s", worker.address, attempt, self.retry.attempts, err)
                if attempt < self.retry.attempts:
                    await asyncio.sleep(self.retry.backoff(attempt, self.rng))
                disconnected.clear()
        raise DeviceError(
            f"no connection after {self.retry.attempts} attempts ({last}); "
            "check the device is awake and in range",
            address=worker.address,
        ) from last

    async def _connect_and_run(self, worker: _Worker) -> bool:
        """One connection; ``True`` when the driver finished normally (not a link loss)."""
        disconnected = asyncio.Event()
        client = await self._connect(worker, disconnected)
        worker.stats.connections += 1
        self._set_state(worker, "connected")
        session = Session(
            client, worker.address, worker.name, self._emit_for(worker), worker.last_sequence, worker.stats
        )
        driver_task = asyncio.create_task(worker.profile.driver().run(session), name=f"driver-{worker.address}")
        drop_task = asyncio.create_task(disconnected.wait(), name=f"drop-{worker.address}")
        finished = False
        try:
            done, _ = await asyncio.wait({driver_task, drop_task}, return_when=asyncio.FIRST_COMPLETED)
            if driver_task in done and not driver_task.cancelled() and driver_task.exception() is None:
                self._set_state(worker, "done")
                finished = True
            elif drop_task in done:
                worker.stats.link_losses += 1
                self._set_state(worker, "link lost", f"resume after sequence {worker.last_sequence}")
            if driver_task in done and not driver_task.cancelled():
                err = driver_task.exception()
                if err is not None and not disconnected.is_set():
                    logger.warning("%s: driver failed: %r", worker.address, err)
        finally:
            if not await cancel_and_wait((driver_task, drop_task)):
                logger.error("%s: the driver did not stop when asked; left behind", worker.address)
            if client.is_connected:
                await client.disconnect()
            self._changed()
        return finished

    def _emit_for(self, worker: _Worker) -> Emit:
        assert self._emit is not None
        emit = self._emit

        async def emit_one(output: DeviceOutput) -> None:
            if isinstance(output, Reading) and output.sequence is not None:
                last = worker.last_sequence
                if last is not None and output.sequence <= last and output.stored:
                    worker.stats.duplicates += 1
                    logger.debug("%s: record %d already delivered", worker.address, output.sequence)
                    return
                worker.last_sequence = output.sequence if last is None else max(last, output.sequence)
            worker.stats.outputs += 1
            await emit(output)

        return emit_one
