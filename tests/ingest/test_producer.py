"""The ingest's producer settings: what makes a 200 mean the broker has the body."""

from ingest.producer import KafkaProducer


def test_acks_all_idempotent_murmur2_and_the_produce_timeout():
    config = KafkaProducer("127.0.0.1:1", timeout_s=5).config
    assert config["acks"] == "all" and config["enable.idempotence"] is True
    # The partition Faust's table_route expects for the key bytes: Java's murmur2, not librdkafka's CRC32.
    assert config["partitioner"] == "murmur2_random"
    # A record is given up when the HTTP answer is (503 after MISTPIPE_PRODUCE_TIMEOUT_S), never sent later.
    assert config["message.timeout.ms"] == 5000
