#!/usr/bin/env bash
# Live-validation benchmark (issue 14): `gsec scan --validate` on a report of
# 500 findings (FINDINGS) holding 40 distinct credentials (DISTINCT) of 5
# providers, against a local fake of those providers that answers each request
# after DELAY seconds (mapped with scan.validate.endpoints, so nothing leaves
# the machine). Target: bounded by the slowest provider, not the sum — one
# request per distinct credential, 8 in flight: about DISTINCT/8 x DELAY
# (5 x 0.5 s = 2.5 s), where one-by-one would take DISTINCT x DELAY (20 s)
# and one request per finding FINDINGS x DELAY (250 s).
#
#   bash benches/validate.sh                 # debug binary (cargo build --all-targets)
#   GSEC_BIN=target/dist/gsec bash benches/validate.sh
set -euo pipefail

cd "$(dirname "$0")/.."
GSEC=${GSEC_BIN:-target/debug/gsec}
DELAY=${DELAY:-0.5}
FINDINGS=${FINDINGS:-500}
DISTINCT=${DISTINCT:-40}
[ -x "$GSEC" ] || { echo "no $GSEC: build it first" >&2; exit 2; }
GSEC=$(realpath "$GSEC")
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

# The fake provider: every request is answered 200 after DELAY seconds, each
# on its own thread (as a real provider answers concurrent requests).
cat >"$WORK/fake.py" <<'EOF'
import http.server, socketserver, sys, time, threading
delay = float(sys.argv[1]); count = [0]; lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def handle_one(self):
        time.sleep(delay)
        with lock: count[0] += 1
        body = b'{"ok": true, "valid": true, "result": {"status": "active"}}'
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    do_GET = do_POST = handle_one
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer): daemon_threads = True
s = S(("127.0.0.1", 0), H); print(s.server_address[1], flush=True)
threading.Thread(target=s.serve_forever, daemon=True).start()
try:
    while True: time.sleep(1)
except KeyboardInterrupt: pass
EOF
python3 "$WORK/fake.py" "$DELAY" >"$WORK/port" &
SERVER=$!
for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/port")

# A project with FINDINGS lines of DISTINCT credentials (GitHub tokens carry
# their CRC32 checksum; the others only need their format).
mkdir -p "$WORK/repo" "$WORK/home"
cd "$WORK/repo"
export HOME=$WORK/home GSEC_AGE_KEY_FILE=$WORK/key.txt
git init -q
"$GSEC" keygen -o "$WORK/key.txt" >/dev/null 2>&1
"$GSEC" init >/dev/null 2>&1
python3 - "$PORT" "$FINDINGS" "$DISTINCT" <<'EOF'
import random, string, sys, zlib
port, n, distinct = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
rnd = lambda alpha, k: "".join(random.choice(alpha) for _ in range(k))
def github():
    body = rnd(B62, 30); c = zlib.crc32(body.encode()); s = ""
    for _ in range(6): s = B62[c % 62] + s; c //= 62
    return "ghp_" + body + s
makers = [
    lambda: "GITHUB_TOKEN=" + github(),
    lambda: "OPENAI_API_KEY=sk-proj-" + rnd(B62, 40) + "T3BlbkFJ" + rnd(B62, 40),
    lambda: "SLACK_BOT_TOKEN=xoxb-%s-%s-%s" % (rnd(string.digits, 12), rnd(string.digits, 13), rnd(B62, 24)),
    lambda: "HF_TOKEN=hf_" + rnd(string.ascii_letters, 34),
    lambda: "DIGITALOCEAN_TOKEN=dop_v1_" + rnd("0123456789abcdef", 64),
]
creds = [makers[i % len(makers)]() for i in range(distinct)]
with open("creds.env", "w") as f:
    for i in range(n): f.write(creds[i % distinct] + "\n")
cfg = open(".gsec.yaml").read()
hosts = ["api.github.com", "api.openai.com", "slack.com", "huggingface.co", "api.digitalocean.com"]
ep = "".join("      %s: http://127.0.0.1:%d\n" % (h, port) for h in hosts)
open(".gsec.yaml", "w").write(cfg.replace("\nscan:\n", "\nscan:\n  validate:\n    endpoints:\n" + ep, 1))
EOF

echo "== $FINDINGS findings, $DISTINCT distinct credentials, 5 providers, each answer after ${DELAY}s"
start=$(date +%s.%N)
set +e
"$GSEC" scan --validate --no-managed --format json creds.env >"$WORK/out.json"
code=$?
set -e
end=$(date +%s.%N)
[ "$code" = 1 ] || { echo "unexpected exit $code" >&2; exit 1; }
python3 - "$WORK/out.json" "$start" "$end" "$DELAY" "$DISTINCT" "$FINDINGS" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["findings"]
took = float(sys.argv[3]) - float(sys.argv[2]); delay, d, n = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
live = sum(f.get("validation") == "live" for f in r)
print(f"findings {len(r)}, live {live}; took {took:.2f} s "
      f"(one by one: {d*delay:.0f} s; per finding: {n*delay:.0f} s)")
sys.exit(0 if live == len(r) == n else 1)
EOF
