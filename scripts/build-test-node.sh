#!/usr/bin/env bash
# Builds the OpenSearch test node (test/opensearch-node) once: Java 17 and Maven are needed; the
# first run downloads OpenSearch 2.19's jars from Maven Central into ~/.m2 (kept between runs).
set -euo pipefail
cd "$(dirname "$0")/../test/opensearch-node"
out=target/classpath.txt
if [[ -f $out && $out -nt pom.xml && -z $(find src -newer "$out" -print -quit) ]]; then exit 0; fi
command -v java >/dev/null || { echo "build-test-node: Java 17 is needed for the OpenSearch tests" >&2; exit 1; }
command -v mvn >/dev/null || { echo "build-test-node: Maven is needed for the OpenSearch tests" >&2; exit 1; }
echo "build-test-node: building the OpenSearch 2.19 test node (first run downloads it into ~/.m2)" >&2
mvn -q -B package -DskipTests
