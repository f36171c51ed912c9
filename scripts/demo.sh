#!/usr/bin/env bash
# The README's main job: start the Mimecast API simulator (with faults on), collect everything
# from it with the real API 1.0 client into the embedded store, add Mimecast's documented
# example lines, then show `stats`, the `trace` of one email and "who else received" a phishing
# campaign's message. The data ends a few minutes ago and spans about two days (a living demo: the
# console's charts, Threats and Who-else show it). Stops the simulator at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p demo
DB=demo/mimelog.db
rm -f "$DB" "$DB-wal" "$DB-shm"

bin/mimelog simulate --seed 2026 --events 20000 --spacing-ms 36000 --campaign 40 --faults all --fault-rate 0.05 --slow-ms 300 > demo/simulator.json 2> demo/simulator.log &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s demo/simulator.json ] && break; sleep 0.1; done

# The simulator prints its URL and the credentials it accepts; real use sets these four variables.
field() { node -e 'const j=JSON.parse(require("fs").readFileSync("demo/simulator.json","utf8").split("\n")[0]);console.log(eval("j."+process.argv[1]))' "$1"; }
URL=$(field url)
export MIMECAST_APP_ID=$(field credentials.appId) MIMECAST_APP_KEY=$(field credentials.appKey)
export MIMECAST_ACCESS_KEY=$(field credentials.accessKey) MIMECAST_SECRET_KEY=$(field credentials.secretKey)

echo "== mimelog collect --api v1 --url $URL --once   (log: demo/collect.log)"
bin/mimelog collect --api v1 --url "$URL" --db "$DB" --once --retry-base-ms 100 --timeout 10 2> demo/collect.log
tail -n 1 demo/collect.log
echo
echo "== mimelog ingest samples/understanding-siem-logs.kv"
bin/mimelog ingest --db "$DB" samples/understanding-siem-logs.kv
echo
echo "== mimelog stats"
bin/mimelog stats --db "$DB"
echo
# An email whose delivery needed a retry makes the most telling trace.
MSGID=$(bin/mimelog search --db "$DB" --type delivery --limit 5000 --json |
  node -e 'const l=require("fs").readFileSync(0,"utf8").trim().split("\n").map(JSON.parse);const d=l.find(x=>x.mimecast.Attempt>1)??l[0];console.log(d.email.message_id)')
echo "== mimelog trace '$MSGID'"
bin/mimelog trace --db "$DB" "$MSGID"
echo
# The campaign's first click, as a user would report it.
CLICK=$(field campaign.clicked_acode)
echo "== mimelog who '$CLICK'"
bin/mimelog who --db "$DB" "$CLICK"
echo
echo "== see it in a browser: bin/mimelog console --db $DB   (then open http://127.0.0.1:8080/)"
