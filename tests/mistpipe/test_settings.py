from pathlib import Path

from mistpipe.settings import Settings, load


def test_defaults(monkeypatch):
    for name in (
        "KAFKA_BOOTSTRAP",
        "TOPIC_PREFIX",
        "PARTITIONS",
        "INGEST_PORT",
        "WEB_PORT",
        "WEBHOOK_SECRETS",
    ):
        monkeypatch.delenv(f"MISTPIPE_{name}", raising=False)
    monkeypatch.delenv("MISTPIPE_STATE_DIR", raising=False)
    s = Settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.topic_prefix == "mist."
    assert s.partitions == 8
    assert (s.ingest_port, s.web_port) == (8080, 6066)
    assert s.webhook_secrets == []
    assert s.state_dir == Path(".mistpipe")


def test_env_and_flags(monkeypatch):
    monkeypatch.setenv("MISTPIPE_PARTITIONS", "3")
    monkeypatch.setenv("MISTPIPE_WEBHOOK_SECRETS", "old-secret, new-secret")
    s = load(partitions=None, web_port=7000)
    assert s.partitions == 3  # env, since the flag was not given
    assert s.web_port == 7000  # flag wins
    assert [x.get_secret_value() for x in s.webhook_secrets] == ["old-secret", "new-secret"]
    # Secrets never show when settings are printed or logged.
    assert "old-secret" not in repr(s) and "new-secret" not in str(s)


def test_every_setting_is_a_flag_of_dev():
    from mistpipe.cli import dev

    flags = {opt for param in dev.params for opt in param.opts}
    for name in Settings.model_fields:
        assert f"--{name.replace('_', '-')}" in flags, name
