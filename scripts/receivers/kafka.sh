#!/usr/bin/env bash
# The Kafka test broker's jars, once: Apache Kafka 4.1.1 from Maven Central into
# test/kafka-node/target/libs (the downloads stay in ~/.m2, so a fresh clone only copies them).
# Skipped when the jars are newer than the pom. Starts nothing: each test file starts its own
# broker (test/support/receivers/kafka.ts). Needs Java 17 and Maven.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
node="$root/test/kafka-node"
stamp="$node/target/libs/.complete"

need() { command -v "$1" >/dev/null || { echo "receivers/kafka: $1 is needed for the Kafka test broker ($2)" >&2; exit 1; }; }
need java "Java 17 or later"
need mvn "Maven"

if [[ -f $stamp && $stamp -nt $node/pom.xml ]]; then exit 0; fi
echo "receivers/kafka: fetching the Kafka 4.1.1 broker jars (the first run downloads them into ~/.m2)" >&2
rm -rf "$node/target/libs"
(cd "$node" && mvn -q -B package)
ls "$node"/target/libs/kafka_2.13-*.jar >/dev/null
touch "$stamp"
