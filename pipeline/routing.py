"""Where a query's answer is: the routing that the query API and the floor map share.

State is kept per site partition (process.py). A query about a site's things (a zone, a map) goes to the
worker that owns the site's partition; a query by MAC or SDK id, whose entity may be seen in any site, asks
every worker (`/v1/local/...`) and merges. Every data page sits behind the bearer token when one is set;
forwarded requests carry it along.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiokafka.partitioner import DefaultPartitioner
from faust.web import Blueprint

from topics.serde import encode_key

PEER = aiohttp.ClientTimeout(total=5)
RETRY = {"Retry-After": "1"}


class Unavailable(Exception):
    """A worker that holds part of the answer did not give it, or no worker holds a partition yet."""


def authorized(request: Any, token: bytes | None) -> bool:
    """With a query token set, the request must carry `Authorization: Bearer <token>` (constant time)."""
    if token is None:
        return True
    given = request.headers.get("Authorization", "").encode()
    return hmac.compare_digest(given, b"Bearer " + token)


def forwarded(request: Any) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() == "authorization"}


class Cluster:
    """This worker among the others: who owns which partition of the state, and asking them."""

    def __init__(self, app: Any, partitions: int, changelog: Callable[[], str], token: bytes | None) -> None:
        self.app = app
        self.partitions = list(range(partitions))
        self._changelog = changelog  # the changelog topic whose assignment says who owns what
        self.token = token
        self._partitioner = DefaultPartitioner()

    @property
    def me(self) -> str:
        return str(self.app.conf.canonical_url).rstrip("/")

    def partition_of(self, site_id: str) -> int:
        """The partition of a site's state: where the ingest's key (the site, as JSON) hashes to."""
        return self._partitioner(encode_key(site_id), self.partitions, self.partitions)

    def owners(self) -> dict[int, str]:
        """Partition -> the URL of the worker that owns it (from the group's assignment)."""
        topic = self._changelog()
        out: dict[int, str] = {}
        for url, topics in self.app.router.tables_metadata().items():
            for partition in topics.get(topic, ()):
                out[partition] = str(url).rstrip("/")
        return out

    def owner_of(self, site_id: str) -> str:
        owner = self.owners().get(self.partition_of(site_id))
        if owner is None:
            raise Unavailable("partitions are being assigned; retry")
        return owner

    def workers(self) -> list[str]:
        """Every worker, when every partition has one; else Unavailable (a rebalance is under way)."""
        owners = self.owners()
        if len(owners) < len(self.partitions) or self.app.rebalancing:
            raise Unavailable("partitions are being assigned; retry")
        return sorted(set(owners.values()))

    async def get(self, url: str, request: Any, params: dict[str, str] | None = None) -> tuple[int, Any]:
        """GET `url` as `request` asked (its token along): (status, JSON)."""
        try:
            async with self.app.http_client.get(
                url, params=params, headers=forwarded(request), timeout=PEER
            ) as response:
                return response.status, await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise Unavailable(f"a worker did not answer ({type(exc).__name__}); retry") from exc

    async def forward(self, web: Any, request: Any, owner: str) -> Any:
        """The owner's answer to `request`, as it gave it."""
        try:
            async with self.app.http_client.get(
                owner + request.url.path_qs, headers=forwarded(request), timeout=PEER
            ) as response:
                body = await response.read()
                return web.bytes(body, content_type=response.content_type, status=response.status)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Unavailable(f"the worker owning it did not answer ({type(exc).__name__}); retry") from exc

    async def fan_out(
        self, request: Any, path: str, local: Callable[[], Any], params: dict[str, str] | None = None
    ) -> list[Any]:
        """Every worker's answer to `path` (this one's from `local()`, without a request): 200s only."""
        me = self.me
        peers = [w for w in self.workers() if w != me]
        answers = await asyncio.gather(*(self.get(peer + path, request, params) for peer in peers))
        out = [local()]
        for status, body in answers:
            if status != 200:
                raise Unavailable(f"a worker answered {status}; retry")
            out.append(body)
        return out

    def guarded(self, handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """A read-only GET view behind the bearer token when one is set (401 with WWW-Authenticate without
        it); Unavailable answers 503 with Retry-After."""
        token = self.token

        @functools.wraps(handler)
        async def guarded(web: Any, request: Any, **params: str) -> Any:
            if not authorized(request, token):
                headers = {"WWW-Authenticate": 'Bearer realm="mistpipe"'}
                return web.json({"error": "a valid bearer token is required"}, status=401, headers=headers)
            try:
                return await handler(web, request, **params)
            except Unavailable as exc:
                return web.json({"error": str(exc)}, status=503, headers=RETRY)

        return guarded

    def pages(self, blueprint: Blueprint) -> Callable[[str], Callable]:
        """`page(path)`: the decorator that adds a guarded view to `blueprint`."""

        def page(path: str) -> Callable:
            def decorate(handler: Callable[..., Awaitable[Any]]) -> Any:
                return blueprint.route(path, name=handler.__name__)(self.guarded(handler))

            return decorate

        return page
