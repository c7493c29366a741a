"""The worker's Faust app as built, without a broker: store, pages, concurrency, tables."""

from mistpipe.settings import Settings
from pipeline.app import create_app


def test_memory_store_no_standbys_no_table_pages_one_agent_one_at_a_time(tmp_path):
    pipeline = create_app(Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:1"))
    app = pipeline.app
    assert str(app.conf.store) == "memory:"  # state in memory, recovered from its changelog
    assert app.conf.table_standby_replicas == 0
    assert not app.conf.web_tables_enabled  # no raw dumps of the tables at /table/
    # One body at a time: a commit falls between two bodies (process.py), and faust-streaming #606.
    assert [agent.concurrency for agent in app.agents.values()] == [1]
    assert sorted(app.tables) == sorted(s.name for s in pipeline.states())
    assert {t.partitions for t in app.tables.values()} == {8}
