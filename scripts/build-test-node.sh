#!/usr/bin/env bash
# Builds the search-engine test nodes once: OpenSearch 2.19 (test/opensearch-node, Java 17),
# Elasticsearch 8.15 (test/elasticsearch-node, profile es8, Java 17) and Elasticsearch 9.1
# (profile es9, Java 25), plus the native libraries Elasticsearch 9 loads (zstd for
# best_compression, and a stub vector library). Needs Maven and a C compiler; the first run
# downloads the engines' jars from Maven Central into ~/.m2 (kept between runs). A node whose
# sources did not change since its last build is skipped.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
JAVA_25="${JAVA_25_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"

need() { command -v "$1" >/dev/null || { echo "build-test-node: $1 is needed to build the search-engine test nodes ($2)" >&2; exit 1; }; }
need java "Java 17"
need mvn "Maven"

# up_to_date DIR OUT: OUT exists and is newer than DIR's pom.xml and every file under DIR/src.
up_to_date() { [[ -f $2 && $2 -nt $1/pom.xml && -z $(find "$1/src" -newer "$2" -print -quit) ]]; }

os="$root/test/opensearch-node"
if ! up_to_date "$os" "$os/target/classpath.txt"; then
  echo "build-test-node: building the OpenSearch 2.19 test node (first run downloads it into ~/.m2)" >&2
  (cd "$os" && mvn -q -B package -DskipTests)
fi

es="$root/test/elasticsearch-node"
if ! up_to_date "$es" "$es/target/es8/classpath.txt"; then
  echo "build-test-node: building the Elasticsearch 8.15 test node" >&2
  (cd "$es" && mvn -q -B package -DskipTests -Pes8)
fi
if ! up_to_date "$es" "$es/target/es9/classpath.txt"; then
  [[ -x $JAVA_25/bin/java ]] || { echo "build-test-node: Elasticsearch 9 needs Java 25 in $JAVA_25 (or set JAVA_25_HOME)" >&2; exit 1; }
  echo "build-test-node: building the Elasticsearch 9.1 test node (Java 25)" >&2
  rm -f "$es/target/es9/classpath.txt"
  (cd "$es" && JAVA_HOME="$JAVA_25" mvn -q -B package -DskipTests -Pes9 2>&1 | grep -v 'sun.misc.Unsafe\|terminally deprecated\|consider reporting' >&2 || true)
  [[ -f $es/target/es9/classpath.txt ]] || { echo "build-test-node: the Elasticsearch 9.1 build failed" >&2; exit 1; }
fi
native="$es/target/es9/native"
if [[ ! -f $native/libvec.so ]]; then
  need cc "a C compiler, for Elasticsearch 9's stub vector library"
  zstd=$(ls /usr/lib/*/libzstd.so.1 /usr/lib/libzstd.so.1 2>/dev/null | head -1 || true)
  [[ -n $zstd ]] || { echo "build-test-node: Elasticsearch 9 needs libzstd.so.1 (Debian: libzstd1)" >&2; exit 1; }
  mkdir -p "$native"
  ln -sf "$zstd" "$native/libzstd.so"
  # vec_caps() = 0 tells Elasticsearch to use its Java vector code.
  printf 'int vec_caps(void) { return 0; }\n' > "$native/vec.c"
  cc -shared -fPIC -o "$native/libvec.so" "$native/vec.c"
fi
