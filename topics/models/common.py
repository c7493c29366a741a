"""Building blocks shared by every Mist event model: the base model, MACs, timestamps, enums."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError


class MistEvent(BaseModel):
    """One event of a Mist webhook body.

    Every field is optional: what an event cannot do without is the catalogue's to say (``MistTopic.needs``),
    because real payloads miss fields the spec calls required. Real payloads add fields the spec does not
    list (``rssi`` on location): keep them (``model_extra``) rather than drop or reject them. Numbers are
    coerced to ``str`` where the spec says string, because Mist is not consistent about it
    (``mfg_company_id`` is a string on one topic and an int on the others).
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, coerce_numbers_to_str=True)


class MistEnum(StrEnum):
    """A ``str`` enum matching any case: Mist documents ``notice`` and sends ``NOTICE``.

    The member value stays the spelling Mist documents; an unknown value is still a validation error.
    """

    @classmethod
    def _missing_(cls, value: object) -> MistEnum | None:
        # Only reached when the exact value is not a member, so the common path pays nothing.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = format(value, "g")  # band 5 / 2.4 sent as numbers
        if isinstance(value, str):
            folded = value.strip().casefold()
            for member in cls:
                if member.value.casefold() == folded:
                    return member
        return None


# One regex per accepted spelling; the separator of aa:bb:.. / aa-bb-.. must be the same throughout.
_MAC_RE = re.compile(
    r"[0-9a-f]{12}"
    r"|[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}"
    r"|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}",
    re.IGNORECASE,
)
_MAC_SEPARATORS = str.maketrans("", "", ":-.")


def normalise_mac(value: Any) -> str:
    """``AA:BB:CC:DD:EE:FF`` / ``aa-bb-..`` / ``aabb.ccdd.eeff`` / ``aabbccddeeff`` → ``aabbccddeeff``,
    surrounding blanks ignored."""
    if isinstance(value, str):
        if _MAC_RE.fullmatch(value):
            return (value if len(value) == 12 else value.translate(_MAC_SEPARATORS)).lower()
        stripped = value.strip()
        if stripped != value and _MAC_RE.fullmatch(stripped):
            return normalise_mac(stripped)
    raise ValueError(
        "not a MAC address: expected 12 hex digits, bare or as aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff "
        f"or aabb.ccdd.eeff, got {value!r:.60}"
    )


def _empty_to_none(value: Any) -> Any:
    return None if value == "" else value


# A MAC normalised to 12 lowercase hex digits, the form the whole pipeline keys on.
Mac = Annotated[str, BeforeValidator(normalise_mac)]
# For MACs that Mist only fills in some cases (next_ap when a client roamed): "" means absent.
MaybeMac = Annotated[Mac | None, BeforeValidator(_empty_to_none)]

# The error type by which a Timestamp says "an ISO-8601 time: use ctx['epoch'] and keep the original". An
# error, not a silent conversion, so that the one place that validates events (pipeline.parse) sees where it
# happened and keeps what Mist sent beside it; the common path (a number) pays one type check.
ISO_TIME = "iso_time"


def iso_epoch(value: str) -> float | None:
    """Epoch seconds of an ISO-8601 time (``2025-06-05T04:00:00``, ``...Z``, ``...+02:00``, a space for the
    ``T``); a time without a zone is UTC, as Mist's are. None when ``value`` is not one."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


_NUMBER_RE = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*")


def _epoch_seconds(value: Any) -> Any:
    if type(value) is str and not _NUMBER_RE.fullmatch(value):
        epoch = iso_epoch(value) if "-" in value else None
        if epoch is not None:
            raise PydanticCustomError(
                ISO_TIME, "an ISO-8601 time where epoch seconds are specified", {"epoch": epoch}
            )
    return value


# Epoch seconds; Mist sends int, float, a numeric string (mxedge-events) or an ISO-8601 string (alarms'
# last_seen): the last is converted to epoch seconds by pipeline.parse, which keeps the original. A float.
Timestamp = Annotated[float, Field(ge=0, allow_inf_nan=False), BeforeValidator(_epoch_seconds)]
# A quantity the spec calls an integer that real payloads send with a fraction (client-sessions `duration`
# 17.531571348): kept as the number it is, int or float, rather than refused or truncated.
Number = int | float


class ZoneTrigger(MistEnum):
    """Zone / RSSI-zone transition (spec: webhook_zone_event_trigger)."""

    ENTER = "enter"
    EXIT = "exit"


class ClientType(MistEnum):
    """Kind of client a zone / RSSI-zone event is about: BLE asset, SDK client, Wi-Fi client."""

    ASSET = "asset"
    SDK = "sdk"
    WIFI = "wifi"


class ServicePacket(MistEvent):
    """A BLE service-data packet heard from an asset / beacon (spec: service_packet)."""

    service_data: str | None = None
    service_uuid: str | None = None


class WebhookBody(BaseModel):
    """The shape of what Mist POSTs: one topic, a batch of events (each validated by its topic's model)."""

    model_config = ConfigDict(extra="allow")

    topic: str
    events: list[dict[str, Any]]
