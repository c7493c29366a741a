"""Kafka record headers that the ingest writes on each raw body, and the pipeline reads back."""

# The Mist topic exactly as the body named it (before `_` → `-` normalisation), UTF-8.
MIST_TOPIC = "mist-topic"
# When the ingest received the body: epoch milliseconds, ASCII decimal.
RECEIVED_AT_MS = "mist-received-at-ms"
# b"true" when a configured secret's signature matched, b"false" when the ingest runs unsigned.
SIGNATURE_VERIFIED = "mist-signature-verified"

# On the worker's by-site records (part of a raw body): the raw record, "<topic>:<partition>:<offset>", ASCII;
# and the positions in that body of the events this record holds, a JSON list.
SOURCE = "mist-source"
INDEXES = "mist-indexes"
