"""The corpus: 226 webhook bodies that others published (captures from real orgs, Mist's OpenAPI examples,
the Go SDK's docs and tests), bundled in tests/corpus with INDEX.md saying where each came from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from support import REPO, SHARED

CORPUS = REPO / "tests" / "corpus"
SHARED_CORPUS = SHARED / "mist" / "corpus"
# Provenance classes of real deliveries (the rest are examples: spec, SDK, fixtures).
CAPTURES = frozenset({"capture", "capture-masked"})

# The publishers masked ids and MACs with `x` (xx2316ed6axx, xxxxxxxx-xxxx-...); a real delivery carries hex
# there. A UUID or a 12-digit MAC with an `x` in it, or an IPv4 of x's: every x becomes 0.
_MASKED = re.compile(
    r"(?<![0-9A-Za-z])(?:[0-9a-fx]{8}-[0-9a-fx]{4}-[0-9a-fx]{4}-[0-9a-fx]{4}-[0-9a-fx]{12}|[0-9a-fx]{12}"
    r"|x\.x\.x\.x)(?![0-9A-Za-z])"
)
_ROW = re.compile(r"\| \[[^\]]+\]\(([^)]+)\) \| [^|]+ \| `[^`]*` \| ([^|]+) \|")


def unmask(text: str) -> str:
    return _MASKED.sub(lambda m: m.group(0).replace("x", "0"), text)


@dataclass(frozen=True)
class CorpusBody:
    name: str  # path under tests/corpus, e.g. "mist-plugin/alarms__1.json"
    provenance: str  # as INDEX.md gives it: capture, capture-masked, vendor-spec, sdk-autogen, ...
    raw: bytes  # masks replaced

    @property
    def captured(self) -> bool:
        return self.provenance in CAPTURES


@cache
def corpus() -> tuple[CorpusBody, ...]:
    provenance = {m.group(1): m.group(2).strip() for m in _ROW.finditer((CORPUS / "INDEX.md").read_text())}
    return tuple(
        CorpusBody(name, provenance[name], unmask(path.read_text()).encode())
        for path in sorted(CORPUS.rglob("*.json"))
        if (name := str(path.relative_to(CORPUS)))
    )
