"""SIGTERM under load: `mistpipe ingest` stops accepting, finishes what is in flight (produce included),
flushes and exits 0; every request it answered 200 is in Kafka."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import uuid

import aiohttp
import pytest
from ingest_support import end_offsets, records_since
from support import Service, free_port

from ingest.signature import sign

SLOW = 8  # requests whose bodies are only half sent when SIGTERM arrives


def body() -> bytes:
    return json.dumps({"topic": "ping", "events": [{"site_id": str(uuid.uuid4()), "timestamp": 1}]}).encode()


async def inflight(session: aiohttp.ClientSession, base: str) -> float:
    async with session.get(f"{base}/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith("mistpipe_ingest_inflight_requests "):
                return float(line.split()[1])
    raise AssertionError("no in-flight gauge")


async def test_sigterm_finishes_requests_in_flight(deployment, group_id, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    service = Service(
        "ingest",
        ["ingest", "--port", str(port)],
        deployment.env(),
        tmp_path / "ingest.log",
        f"{base}/readyz",
    )
    await asyncio.to_thread(service.start)
    before = await end_offsets(deployment)
    sent: set[bytes] = set()
    accepted: set[bytes] = set()
    answers: list[int] = []
    stop_load = asyncio.Event()
    release = asyncio.Event()

    async def post(session: aiohttp.ClientSession, data: bytes, chunks=None) -> int:
        sent.add(data)
        headers = {"Content-Type": "application/json", **sign(data, deployment.secret)}
        async with session.post(f"{base}/webhooks/mist", data=chunks or data, headers=headers) as response:
            await response.read()
            if response.status == 200:
                accepted.add(data)
            return response.status

    async def load(session: aiohttp.ClientSession) -> None:
        while not stop_load.is_set():
            try:
                answers.append(await post(session, body()))
            except aiohttp.ClientError:  # refused once the ingest stopped listening: not accepted, fine
                await asyncio.sleep(0.05)

    async def slow(session: aiohttp.ClientSession) -> int:
        data = body()

        async def halves():
            yield data[: len(data) // 2]
            await release.wait()
            yield data[len(data) // 2 :]

        return await post(session, data, halves())

    try:
        async with aiohttp.ClientSession() as session:
            slows = [asyncio.create_task(slow(session)) for _ in range(SLOW)]
            async with asyncio.timeout(30):
                while await inflight(session, base) < SLOW:  # their handlers run, reading the bodies
                    await asyncio.sleep(0.05)
                loaders = [asyncio.create_task(load(session)) for _ in range(8)]
                while len(answers) < 50:
                    await asyncio.sleep(0.05)

            service.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(1.0)  # the ingest is shutting down now, the slow requests still half sent
            assert service.proc.poll() is None, "it waits for the requests in flight"
            async with aiohttp.ClientSession() as fresh:  # but takes no new connection
                with pytest.raises(aiohttp.ClientConnectorError):
                    await fresh.get(f"{base}/healthz")
            release.set()
            assert await asyncio.gather(*slows) == [200] * SLOW
            stop_load.set()
            await asyncio.gather(*loaders)
        code = await asyncio.to_thread(service.proc.wait, 30)
    finally:
        service.stop()
    assert code == 0, service.tail()
    assert set(answers) == {200}, "every answer the ingest gave under load was a 200"
    log = service.log.read_text()
    assert "ingest stopped" in log
    assert deployment.secret not in log
    assert not re.search(r"[0-9a-f]{40}", log), "no signature (hex HMAC) is logged"

    written = {r.value for r in await records_since(deployment.bootstrap, before, group_id)}
    assert accepted <= written <= sent
    assert len(accepted) >= 50 + SLOW
