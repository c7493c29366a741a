"""The dedupe stage's rule: an event is published once, and marked seen only once it was published.

The mark lives in a Faust table, whose changelog record Faust queues and sends after the enriched record that
`publish` has already handed to the producer. So a worker killed in between comes back with the mark only if
the record made it too. Marked before publishing, a worker killed after the mark reached its changelog but
before the record reached its topic would, on re-reading the event, drop as a duplicate an event that was
never published.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Container


async def publish_once(
    fingerprint: str,
    seen: Container[str],
    publish: Callable[[], Awaitable[None]],
    mark: Callable[[str], None],
) -> bool:
    """Publish the event of `fingerprint` unless it was seen; True when published. `mark` runs only after
    `publish` returned: if publishing raises, the event stays unseen and a re-read publishes it."""
    if fingerprint in seen:
        return False
    await publish()
    mark(fingerprint)
    return True
