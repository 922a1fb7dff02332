#!/usr/bin/env python3
"""A minimal fake Neon for benches/neon.sh: the API v2 calls of the neon
plugin (reset_password, operations, roles) behind a Bearer API key, and the
endpoint's SQL-over-HTTP /sql login check against the roles' passwords.
Prints its port, then serves until killed. The test suite's fake
(tests/cli/fake_neon.rs) checks far more.
usage: fake_neon.py STATE_JSON_OUT   (writes {"api_key": …, "app_a": url})"""
import json, secrets, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST, DB = "ep-bench-123456.us-east-2.aws.neon.tech", "neondb"
api_key = "napi_" + secrets.token_hex(20)
roles = {r: "npg_" + secrets.token_hex(8) for r in ("app_a", "app_b")}

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, status, obj):
        b = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def route(self, method):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/sql":
            u = urllib.parse.urlsplit(self.headers.get("neon-connection-string", ""))
            ok = u.hostname == HOST and roles.get(urllib.parse.unquote(u.username or "")) == urllib.parse.unquote(u.password or "")
            if ok and json.loads(body) == {"query": "SELECT 1", "params": []}:
                return self.reply(200, {"command": "SELECT", "rowCount": 1, "fields": [], "rows": [["1"]]})
            return self.reply(400, {"code": "28P01", "message": "password authentication failed"})
        if self.headers.get("authorization") != f"Bearer {api_key}":
            return self.reply(401, {"message": "authentication required"})
        parts = self.path.split("/")[4:]   # /api/v2/projects/<p>/…
        if method == "GET" and len(parts) == 3 and parts[1] == "operations":
            return self.reply(200, {"operation": {"id": parts[2], "action": "apply_config", "status": "finished"}})
        if len(parts) >= 5 and parts[1:4:2] == ["branches", "roles"] and parts[4] in roles:
            role = {"name": parts[4], "branch_id": parts[2]}
            if method == "GET" and len(parts) == 5:
                return self.reply(200, {"role": role})
            if method == "POST" and parts[5:] == ["reset_password"] and not body:
                roles[parts[4]] = "npg_" + secrets.token_hex(8)
                return self.reply(200, {"role": dict(role, password=roles[parts[4]]),
                                        "operations": [{"id": secrets.token_hex(8), "status": "running"}]})
        return self.reply(404, {"message": "not found"})

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

with open(sys.argv[1], "w") as f:
    json.dump({"api_key": api_key, "url": f"postgres://app_a:{roles['app_a']}@{HOST}/{DB}?sslmode=require"}, f)
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
