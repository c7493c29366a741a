"""What the aggregates of one State share."""

from __future__ import annotations

from pipeline.state import State


class OneState:
    """An aggregate whose values are one State."""

    def __init__(self, state: State) -> None:
        self.state = state

    @property
    def states(self) -> tuple[State, ...]:
        return (self.state,)
