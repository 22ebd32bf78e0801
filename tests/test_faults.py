"""Faults on the wire and in the store: a network partition between gateway and broker, and the
time-series store down for a while. Afterwards every reading is in the store exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dataflow import (
    SlowSource,
    assert_exactly_once,
    ingest,
    points_of,
    readings,
    settings,
    until,
    vm_count,
)
from proxy import Proxy

from vitalgate.gateway.daemon import Gateway


async def test_network_partition_then_heal_loses_nothing(tmp_path: Path, mosquitto, victoria) -> None:  # type: ignore[no-untyped-def]
    items = readings(300)
    async with Proxy(mosquitto.port) as link:
        gw_cfg = settings(tmp_path, link.url, mqtt={"keepalive_s": 5})
        direct = settings(tmp_path, mosquitto.url)
        async with ingest(direct, victoria) as w, Gateway(gw_cfg, [SlowSource(items)]) as gw:
            await until(lambda: w.stored_observations >= 40, what="first readings stored")
            link.partition()
            stored_then = w.stored_observations
            await until(lambda: not gw.publisher.connected.is_set(), within=20,
                        what="the publisher noticed the dead link (keepalive)")
            assert w.stored_observations - stored_then < 60  # nothing got through meanwhile
            await until(lambda: gw.queued == len(items), within=30, what="readings queued offline")
            link.heal()
            await until(lambda: len(gw.outbox) == 0 and w.stored_observations >= len(items), within=60,
                        what="outbox drained and everything stored after healing")
            # stored_observations counts the re-sent duplicates too: wait (worker still running)
            # until the store holds every reading, or a last one in flight is cut off by the exit
            await until(lambda: vm_count(victoria) >= points_of(items), within=30, what="every reading in the store")
        assert_exactly_once(victoria, items)


async def test_store_down_for_a_while_loses_nothing(tmp_path: Path, mosquitto, victoria) -> None:  # type: ignore[no-untyped-def]
    items = readings(300)
    cfg = settings(tmp_path, mosquitto.url)
    async with ingest(cfg, victoria) as w, Gateway(cfg, [SlowSource(items)]) as gw:
        await until(lambda: w.stored_observations >= 40, what="first readings stored")
        victoria.stop()
        stored_then = w.stored_observations
        await asyncio.sleep(3)  # the store stays down while readings keep coming
        assert w.stored_observations - stored_then <= 100  # at most the batch being written
        victoria.start()
        # The broker holds what the worker has not acknowledged; the worker acknowledges only
        # after the store has written it.
        await until(lambda: gw.queued == len(items) and w.stored_observations >= len(items), within=60,
                    what="every reading stored after the store came back")
        await until(lambda: vm_count(victoria) >= points_of(items), within=30, what="every reading in the store")
    assert_exactly_once(victoria, items)
