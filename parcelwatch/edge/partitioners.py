"""Producers' partitioners: Java clients hash keys with murmur2 (kafka-python's
default), librdkafka's clients with CRC-32. The service never assumes either."""

from __future__ import annotations

import random
import zlib
from typing import Any

from kafka.partitioner import Partitioner


def crc32_partition(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """librdkafka's default partitioner (`consistent_random`: CRC-32 of the key, modulo
    the partition count; a random available partition for a null key): what kcat,
    confluent-kafka and the other librdkafka clients do."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[zlib.crc32(key) % len(all_partitions)]


def _partitioner(name: str) -> Any:
    """A kafka-python partitioner: None for its own (murmur2, as Java clients), or one
    doing what librdkafka's clients do."""
    return None if name == "murmur2" else Crc32Partitioner()


class Crc32Partitioner(Partitioner):
    """kafka-python's partitioner interface around `crc32_partition`."""

    def partition(self, topic, key, serialized_key, value, serialized_value, cluster):
        everything = sorted(cluster.partitions_for_topic(topic))
        return crc32_partition(
            serialized_key, everything, list(cluster.available_partitions_for_topic(topic))
        )
