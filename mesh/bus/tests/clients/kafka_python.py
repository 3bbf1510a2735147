"""A Kafka client written without librdkafka (kafka-python) against the embedded broker.

Usage: kafka_python.py BOOTSTRAP TOPIC GROUP COUNT

Produces COUNT keyed records to TOPIC (created beforehand, two partitions), reads them back
in the consumer group GROUP, commits, and prints one JSON object: the records it produced
(with their partitions and offsets), the ones it consumed and the offsets the broker holds
for the group afterwards. Any protocol error raises, and the exit status is not zero.
"""

import json
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def main() -> None:
    bootstrap, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=15000)
    futures = [
        producer.send(topic, key=f"k{i % 3}".encode(), value=f"python-{i}".encode()) for i in range(count)
    ]
    producer.flush(timeout=15)
    produced = []
    for i, future in enumerate(futures):
        meta = future.get(timeout=15)
        produced.append({"value": f"python-{i}", "partition": meta.partition, "offset": meta.offset})
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20000,
    )
    consumed = []
    for message in consumer:
        consumed.append(
            {
                "key": message.key.decode(),
                "value": message.value.decode(),
                "partition": message.partition,
                "offset": message.offset,
            }
        )
        if len(consumed) == count:
            break
    consumer.commit()
    partitions = sorted(consumer.partitions_for_topic(topic))
    committed = {str(p): consumer.committed(TopicPartition(topic, p)) for p in partitions}
    consumer.close()
    print(json.dumps({"produced": produced, "consumed": consumed, "committed": committed}))


if __name__ == "__main__":
    main()
