"""The worker's Faust app as built, without a broker: store, pages, concurrency, tables."""

from mistpipe.settings import Settings
from pipeline.app import create_app
from pipeline.faust.direct import DirectTopic


def test_memory_store_no_standbys_no_table_pages_one_body_at_a_time(tmp_path):
    pipeline = create_app(Settings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:1"))
    app = pipeline.app
    assert str(app.conf.store) == "memory:"  # state in memory, recovered from its changelog
    assert app.conf.table_standby_replicas == 0
    assert not app.conf.web_tables_enabled  # no raw dumps of the tables at /table/
    # One body at a time, as the consumer hands it over (pipeline/faust/direct.py): no agent, no stream;
    # a commit falls between two bodies (process.py).
    assert not app.agents
    direct = [t for t in app.topics if isinstance(t, DirectTopic)]
    assert len(direct) == 1 and set(direct[0].topics) == set(pipeline.process.source_topics)
    assert sorted(app.tables) == sorted(s.name for s in pipeline.states())
    assert {t.partitions for t in app.tables.values()} == {8}
