"""The Faust worker: parse, deduplicate, enrich and aggregate Mist events; serve the query API.

Depends on `topics` (the contract), never on `ingest`.
"""
