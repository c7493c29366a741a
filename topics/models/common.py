"""Building blocks shared by every Mist event model: the base model, MACs, timestamps, enums."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class MistEvent(BaseModel):
    """One event of a Mist webhook body.

    Real payloads add fields the spec does not list (``rssi`` on location): keep them (``model_extra``) rather
    than drop or reject them. Numbers are coerced to ``str`` where the spec says string, because Mist is not
    consistent about it (``mfg_company_id`` is a string on one topic and an int on the others).
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
    """``AA:BB:CC:DD:EE:FF`` / ``aa-bb-..`` / ``aabb.ccdd.eeff`` / ``aabbccddeeff`` → ``aabbccddeeff``."""
    if isinstance(value, str) and _MAC_RE.fullmatch(value):
        return (value if len(value) == 12 else value.translate(_MAC_SEPARATORS)).lower()
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
# Epoch seconds; Mist sends int, float or (mxedge-events) a numeric string. Stored as float.
Timestamp = Annotated[float, Field(ge=0, allow_inf_nan=False)]


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
