"""Generated and mutated bodies and headers against a running ingest and the real broker: the ingest only
ever answers 200, 400, 401 or 413 while Kafka is up; never a 5xx, never a crash; every 200 is in Kafka."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_support import OTHER_SECRET, SAMPLES, end_offsets, records_since

from ingest.server import WEBHOOK_PATH
from ingest.signature import SIGNATURE_SHA1, SIGNATURE_V2, sign

LIMIT = 4096
SECRET = "property-secret"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
topics = st.sampled_from(["location", "location_asset", "ZONE", " ping ", "unknown", "", "mist.ref.sites"])


@st.composite
def bodies(draw) -> bytes:
    sample = draw(st.sampled_from(sorted(SAMPLES.values())))
    kind = draw(st.sampled_from(["sample", "retopic", "mutated", "json", "bytes", "flipped", "cut", "big"]))
    if kind == "sample":
        return sample
    if kind == "retopic":  # the topic in any spelling, or any JSON value
        doc = json.loads(sample)
        doc["topic"] = draw(topics | json_values)
        return json.dumps(doc).encode()
    if kind == "mutated":  # events replaced, extended, or keys dropped
        doc = json.loads(sample)
        choice = draw(st.sampled_from(["events", "append", "drop", "add"]))
        if choice == "events":
            doc["events"] = draw(json_values)
        elif choice == "append":
            doc["events"].append(draw(json_values))
        elif choice == "drop":
            doc.pop(draw(st.sampled_from(["topic", "events"])))
        else:
            doc[draw(st.text(max_size=8))] = draw(json_values)
        return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "flipped":
        i = draw(st.integers(0, len(sample) - 1))
        return sample[:i] + bytes([draw(st.integers(0, 255))]) + sample[i + 1 :]
    if kind == "cut":
        return sample[: draw(st.integers(0, len(sample) - 1))]
    return sample[:-2] + b" " * draw(st.integers(LIMIT - len(sample), 2 * LIMIT)) + sample[-2:]


SIGNINGS = ["v2", "both", "other-secret", "upper", "none", "sha1-only", "wrong-secret", "garbage"]
VALID_SIGNINGS = {"v2", "both", "other-secret", "upper"}
header_text = st.text(
    st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"), max_size=70
)


def signature_headers(body: bytes, signing: str, garbage: str) -> dict[str, str]:
    if signing == "v2":
        return {SIGNATURE_V2: sign(body, SECRET)[SIGNATURE_V2]}
    if signing == "both":
        return sign(body, SECRET)
    if signing == "other-secret":
        return sign(body, OTHER_SECRET)
    if signing == "upper":
        return {SIGNATURE_V2: sign(body, SECRET)[SIGNATURE_V2].upper()}
    if signing == "sha1-only":  # not accepted by default
        return {SIGNATURE_SHA1: sign(body, SECRET)[SIGNATURE_SHA1]}
    if signing == "wrong-secret":
        return sign(body, "wrong")
    if signing == "garbage":
        return {SIGNATURE_V2: garbage, SIGNATURE_SHA1: garbage}
    return {}


async def test_only_200_400_401_413(start_ingest, deployment, group_id):
    client = await start_ingest(webhook_secrets=[SECRET, OTHER_SECRET], max_body_bytes=LIMIT)
    before = await end_offsets(deployment)
    answers: dict[int, int] = {}
    loop = asyncio.get_running_loop()

    async def send(body: bytes, headers: dict[str, str], chunked: bool) -> tuple[int, dict]:
        async def chunks():
            for i in range(0, len(body), 512):
                yield body[i : i + 512]

        response = await client.post(WEBHOOK_PATH, data=chunks() if chunked else body, headers=headers)
        return response.status, await response.json(content_type=None)

    # Hypothesis drives a plain function in a thread; each example posts through the one client on this
    # loop, so one ingest app serves the whole run and the checks after it see everything it wrote.
    @settings(max_examples=1000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        body=bodies(),
        signing=st.sampled_from(SIGNINGS),
        garbage=header_text,
        content_type=st.sampled_from(
            ["application/json", "text/plain", "", "application/json; charset=latin-1"]
        ),
        extra=st.dictionaries(
            st.sampled_from(["X-Extra", "X-Mist-Other", "Accept"]), header_text, max_size=2
        ),
        chunked=st.booleans(),
    )
    def post_one(body, signing, garbage, content_type, extra, chunked):
        headers = {**extra, "Content-Type": content_type, **signature_headers(body, signing, garbage)}
        status, doc = asyncio.run_coroutine_threadsafe(send(body, headers, chunked), loop).result(60)
        answers[status] = answers.get(status, 0) + 1
        if len(body) > LIMIT:
            assert status == 413
        elif signing not in VALID_SIGNINGS:
            assert status == 401
        else:
            assert status in (200, 400), doc
        if status == 200:
            assert doc["topic"].startswith(deployment.prefix)
            assert doc["accepted"] == len(json.loads(body)["events"])
        else:
            assert isinstance(doc["error"], str)

    await asyncio.to_thread(post_one)
    assert sum(answers.values()) >= 1000
    assert set(answers) <= {200, 400, 401, 413} and len(answers) == 4, answers
    # Every 200 is a record in Kafka, and nothing else is.
    records = await records_since(deployment.bootstrap, before, group_id)
    assert len(records) == answers[200]
