#!/usr/bin/env bash
# The README's main job: Mimecast's documented example lines through the whole pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
bin/mimelog ingest --sink ndjson samples/understanding-siem-logs.kv
