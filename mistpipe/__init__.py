"""mistpipe: Juniper Mist webhooks into Kafka, parsed, enriched and aggregated by Faust.

This package holds the cross-cutting pieces only: settings, the CLI, the local Kafka broker and Kafka admin.
The data flow lives in `topics` (the contract), `ingest` (HTTP → Kafka) and `pipeline` (the Faust app).
"""

__version__ = "0.1.0"
