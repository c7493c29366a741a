"""One failing record never stops an agent: it goes to on_error and the loop goes on."""

from types import SimpleNamespace

from pipeline.guard import each


class Stream:
    def __init__(self, values):
        self.values = values

    async def events(self):
        for value in self.values:
            yield SimpleNamespace(value=value)


async def test_a_failing_record_goes_to_on_error_and_the_rest_goes_on():
    handled, failed = [], []

    async def handle(event):
        if event.value == "bad":
            raise KeyError("boom")
        handled.append(event.value)

    async def on_error(stage, event, exc):
        failed.append((stage, event.value, type(exc).__name__))

    await each(Stream(["a", "bad", "b"]), "parse", handle, on_error)
    assert handled == ["a", "b"]
    assert failed == [("parse", "bad", "KeyError")]
