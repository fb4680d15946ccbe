"""The contract's topics (CONTRACT §1), by logical name: the Kafka names are settings."""

INPUT_TOPICS = ("waybills", "scans", "gps")
OUTPUT_TOPICS = ("exceptions", "tickets", "notifications", "dead_letters")
