"""`mistpipe replay`: bodies from files, folders and recordings, signed as Mist signs, 503s retried."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from ingest_support import SAMPLES, end_offsets, records_since
from support import MIST_SAMPLES, REPO, free_port

from ingest.replay import load_bodies, post
from ingest.server import WEBHOOK_PATH, make_app
from ingest.signature import SIGNATURE_SHA1, SIGNATURE_V2, sign
from mistpipe.settings import Settings


def test_load_bodies(tmp_path):
    (tmp_path / "a.json").write_bytes(b'{"topic": "a", "events": []}\n')
    recording = b'{"topic": "b", "events": []}\n\n{"topic": "c", "events": []}\r\n'
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "rec.jsonl").write_bytes(recording)
    (tmp_path / "notes.txt").write_text("not a body")
    assert load_bodies([tmp_path]) == [
        b'{"topic": "a", "events": []}\n',  # a file is one body, verbatim
        b'{"topic": "b", "events": []}',
        b'{"topic": "c", "events": []}',
    ]
    assert load_bodies([MIST_SAMPLES]) == list(SAMPLES.values())
    assert load_bodies([MIST_SAMPLES / "ping.json", MIST_SAMPLES / "ping.json"]) == [SAMPLES["ping"]] * 2


async def test_connection_errors_are_retried_then_reported():
    async with aiohttp.ClientSession() as session:
        answer = await post(session, f"http://127.0.0.1:{free_port()}/webhooks/mist", b"{}", "s", retries=1)
    assert answer == "ClientConnectorError"


async def replay_cli(*args: str, **env: str) -> tuple[int, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MISTPIPE_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mistpipe.cli",
        "replay",
        *args,
        cwd=REPO,
        env={**environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode()


async def test_replay_the_samples_into_the_ingest(deployment, group_id):
    seen: list[dict] = []
    refuse = 2  # the first two requests get a 503, as from an ingest whose Kafka is away

    @web.middleware
    async def flaky(request: web.Request, handler):
        nonlocal refuse
        seen.append(dict(request.headers))
        if refuse:
            refuse -= 1
            return web.json_response({"error": "injected"}, status=503, headers={"Retry-After": "1"})
        return await handler(request)

    settings = Settings(
        kafka_bootstrap=deployment.bootstrap,
        topic_prefix=deployment.prefix,
        webhook_secrets=[deployment.secret],
    )
    app = make_app(settings)
    app.middlewares.append(flaky)
    server = TestServer(app)
    await server.start_server()
    url = str(server.make_url(WEBHOOK_PATH))
    try:
        before = await end_offsets(deployment)
        code, out = await replay_cli(
            str(MIST_SAMPLES), "--url", url, "--repeat", "2", MISTPIPE_REPLAY_SECRET=deployment.secret
        )
        assert code == 0, out
        assert f"48 bodies posted to {url}: 48 accepted" in out
        assert "  200: 48" in out and "503" not in out
        assert len(seen) == 48 + 2  # the two 503s were retried
        assert seen[0][SIGNATURE_V2] == seen[1][SIGNATURE_V2] == seen[2][SIGNATURE_V2]
        assert all(h["User-Agent"] == "Mist-webhook" and SIGNATURE_SHA1 in h for h in seen)
        records = await records_since(deployment.bootstrap, before, group_id)
        assert Counter(r.value for r in records) == {body: 2 for body in SAMPLES.values()}

        # The secret: --secret wins over MISTPIPE_REPLAY_SECRET; else the first of MISTPIPE_WEBHOOK_SECRETS.
        ping = str(MIST_SAMPLES / "ping.json")
        code, out = await replay_cli(ping, "--url", url, "--secret", "wrong", MISTPIPE_REPLAY_SECRET="x")
        assert code == 1 and "0 accepted" in out and "  401: 1" in out, out
        code, out = await replay_cli(ping, "--url", url, MISTPIPE_WEBHOOK_SECRETS=f"{deployment.secret},old")
        assert code == 0 and "  200: 1" in out, out
        assert seen[-1][SIGNATURE_V2] == sign(SAMPLES["ping"], deployment.secret)[SIGNATURE_V2]
    finally:
        await server.close()
