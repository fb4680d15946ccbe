"""Why an input is refused. Raised at the edge (decoding, validation) and by the core
(clock guard, de-duplication conflicts, caps); whoever feeds the core turns it into a
dead letter. The core raises it before it changes any state, so a refused input leaves
no trace but its dead letter."""

from __future__ import annotations


class InvalidRecord(ValueError):
    """An input that cannot be decoded, validated or accepted. `reason` is a short,
    bounded label (for metrics and the dead letter's error prefix); the message says
    exactly what is wrong."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
