"""The worker's Faust app as built, without a broker: store, pages, concurrency, metrics."""

from mistpipe.settings import Settings
from pipeline.app import ROCKSDB_OPTIONS, create_app


def test_rocksdb_sized_small_no_table_pages_stateful_agents_one_at_a_time(tmp_path):
    app = create_app(Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")).app
    assert str(app.conf.store) == "rocksdb:"
    # RocksDB's defaults (a 2 GiB block cache per table partition) would not fit a small machine.
    assert all(table.options == ROCKSDB_OPTIONS for table in app.tables.values())
    assert ROCKSDB_OPTIONS["block_cache_size"] <= 16 * 1024 * 1024
    assert not app.conf.web_tables_enabled  # no raw dumps of the tables at /table/
    # One event at a time per partition: the tables' read-modify-write relies on it.
    assert {agent.concurrency for agent in app.agents.values()} == {1}


def test_memory_store_for_unit_tests(tmp_path):
    app = create_app(Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:1"), store="memory://").app
    assert str(app.conf.store) == "memory:"
    assert all(not table.options for table in app.tables.values())
