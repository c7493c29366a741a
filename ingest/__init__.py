"""The HTTP ingest: verifies Mist's signature and writes each webhook body, verbatim, to its Kafka topic.

Depends on `topics` (the contract), never on `pipeline`.
"""
