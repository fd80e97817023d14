#!/usr/bin/env bash
# Run every module's tests against a real Apache Kafka: the cluster named by
# KAFKA_BROKERS, or, when it is unset, a single node started here from Maven
# Central's jars (kafka.sh) and stopped afterwards. Tests that need a broker
# read KAFKA_BROKERS and create uniquely named topics and groups on it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [[ -z "${KAFKA_BROKERS:-}" ]]; then
  # Stop the broker afterwards only if this run started it: a developer's own
  # `kafka.sh up` stays up.
  if ! bash deploy/kafka/kafka.sh status >/dev/null 2>&1; then
    trap 'bash deploy/kafka/kafka.sh down' EXIT
  fi
  started=$(date +%s)
  line=$(bash deploy/kafka/kafka.sh up | tail -n 1)
  export "${line?}"
  echo "test-kafka: Apache Kafka at $KAFKA_BROKERS, up in $(( $(date +%s) - started ))s"
fi
echo "test-kafka: running the suites against KAFKA_BROKERS=$KAFKA_BROKERS"
make test TEST_KAFKA_BROKERS="$KAFKA_BROKERS"
