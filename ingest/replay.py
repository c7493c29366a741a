"""`mistpipe replay`: post recorded webhook bodies to an ingest, signed and sent as Mist sends them."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import aiohttp

from ingest.signature import sign

JSON_LINES = {".jsonl", ".ndjson"}  # recordings: one body per line
BODY_FILES = {".json", *JSON_LINES}
MAX_BACKOFF_S = 30.0


def load_bodies(paths: Iterable[Path]) -> list[bytes]:
    """Bodies, verbatim: a .json file is one body; a .jsonl/.ndjson file one per non-blank line; a folder
    holds such files (searched recursively, in name order)."""
    bodies: list[bytes] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.suffix in BODY_FILES) if path.is_dir() else [path]
        for file in files:
            data = file.read_bytes()
            if file.suffix in JSON_LINES:
                bodies += [line.strip() for line in data.splitlines() if line.strip()]
            else:
                bodies.append(data)
    return bodies


def _backoff(attempt: int, retry_after: str | None) -> float:
    """Exponential backoff with jitter, never shorter than the server's Retry-After (in seconds)."""
    delay = min(MAX_BACKOFF_S, 0.5 * 2**attempt) * random.uniform(1.0, 1.5)
    try:
        return max(delay, float(retry_after or 0))
    except ValueError:  # an HTTP date: not worth parsing here
        return delay


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, secret: str | None, retries: int
) -> str:
    """POST one body; retry 503s and connection errors. The final answer: a status code, or the error."""
    headers = {"Content-Type": "application/json", **(sign(body, secret) if secret else {})}
    answer, retry_after = "", None
    for attempt in range(retries + 1):
        if attempt:
            await asyncio.sleep(_backoff(attempt - 1, retry_after))
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                answer, retry_after = str(response.status), response.headers.get("Retry-After")
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            answer, retry_after = type(exc).__name__, None
        if answer.isdigit() and answer != "503":
            break
    return answer


async def replay(
    url: str,
    bodies: list[bytes],
    secret: str | None,
    rate: float | None = None,
    repeat: int = 1,
    concurrency: int = 1,
    retries: int = 5,
    on_answer: Callable[[str], None] = lambda _: None,
) -> Counter[str]:
    """Post every body ``repeat`` times, at most ``rate`` per second; the final answers, counted."""
    answers: Counter[str] = Counter()
    total = len(bodies) * repeat
    order = iter(range(total))  # shared by the workers: each takes the next body
    loop = asyncio.get_running_loop()
    start = loop.time()
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(headers={"User-Agent": "Mist-webhook"}, timeout=timeout) as session:

        async def worker() -> None:
            for i in order:
                if rate:
                    await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
                answer = await post(session, url, bodies[i % len(bodies)], secret, retries)
                answers[answer] += 1
                on_answer(answer)

        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return answers
