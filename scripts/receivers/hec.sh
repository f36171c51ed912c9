#!/usr/bin/env bash
# Builds the Splunk HEC test receiver once: an OpenTelemetry Collector made with its builder (ocb)
# from Go modules, holding the splunk_hec receiver, the ack extension (indexer acknowledgement) and
# the file exporter. The binary is cached in ~/.cache/mimelog-test/ under the hash of the builder
# config, so a changed config builds again and an unchanged one costs nothing. Idempotent; leaves
# no process running. Prints the binary's path on its last line.
# Needs Go (1.24 or later) and the Go module proxy.
set -euo pipefail

VERSION=v0.145.0          # builder, receiver, extension and exporters: one collector release
PROVIDERS=v1.51.0         # the confmap providers that go with core v0.145.0
CACHE="${MIMELOG_TEST_CACHE:-$HOME/.cache/mimelog-test}"

config() {
  cat <<YAML
dist:
  name: otelcol-hec
  description: Splunk HEC receiver with indexer acknowledgement, for mimelog's tests
  output_path: $1
receivers:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/receiver/splunkhecreceiver $VERSION
extensions:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/extension/ackextension $VERSION
exporters:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter $VERSION
providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider $PROVIDERS
  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider $PROVIDERS
YAML
}

# The key covers what the binary is made of (not where it is written).
KEY=$(config OUT | sha256sum | cut -c1-16)
DIR="$CACHE/otelcol-hec-$KEY"
BIN="$DIR/otelcol-hec"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

command -v go >/dev/null || { echo "hec.sh: Go is needed to build the HEC test receiver (https://go.dev/dl/)" >&2; exit 1; }
mkdir -p "$CACHE/bin"
BUILDER="$CACHE/bin/builder-$VERSION"
if [ ! -x "$BUILDER" ]; then
  echo "hec.sh: installing the collector builder $VERSION" >&2
  GOBIN="$CACHE/bin/tmp-$$" go install "go.opentelemetry.io/collector/cmd/builder@$VERSION" >&2
  mv "$CACHE/bin/tmp-$$/builder" "$BUILDER" && rmdir "$CACHE/bin/tmp-$$"
fi

# (The env provider is the collector's default scheme: without it the binary refuses every config.)
# Built beside the final folder and moved in at the end, so an interrupted build never looks cached.
WORK="$DIR.tmp-$$"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK"
config "$WORK/dist" > "$WORK/builder-config.yaml"
echo "hec.sh: building the HEC test receiver (a minute or two the first time)" >&2
"$BUILDER" --config="$WORK/builder-config.yaml" >&2
mkdir -p "$DIR"
mv "$WORK/dist/otelcol-hec" "$BIN"
cp "$WORK/builder-config.yaml" "$DIR/"
echo "$BIN"
