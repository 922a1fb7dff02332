#!/usr/bin/env python3
"""A minimal fake Cloudflare token API and GitLab token API for
benches/tokens.sh: Cloudflare's /client/v4/user/tokens (verify, get, list,
create with the given policies, delete, roll) and GitLab's
/api/v4/personal_access_tokens/self (get, rotate: revokes the old token and
makes its successor, delete). Bearer / PRIVATE-TOKEN must be a live token.
Prints its port, then serves until killed. The test suite's fakes
(tests/cli/fake_cloudflare.rs, fake_gitlab.rs) check far more.
usage: fake_tokens.py TOKENS_JSON_OUT   (writes {"cloudflare": v, "cloudflare_roll": v, "gitlab": v})"""
import json, secrets, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cf = {}   # value -> {"id", "name", "policies", "deleted"}
gl = {}   # value -> {"id", "revoked"}
next_gl = [100]

def cf_new(name, policies):
    v = secrets.token_hex(20)
    cf[v] = {"id": secrets.token_hex(16), "name": name, "policies": policies, "deleted": False}
    return v

def gl_new():
    v = "glpat-" + secrets.token_urlsafe(15)
    next_gl[0] += 1
    gl[v] = {"id": next_gl[0], "revoked": False}
    return v

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, status, obj):
        b = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def cloudflare(self, path):
        auth = self.headers.get("authorization", "")
        me = cf.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
        if not me or me["deleted"]:
            return self.reply(401, {"success": False, "errors": [{"code": 1000, "message": "Invalid API Token"}]})
        ok = lambda r, extra={}: self.reply(200, {"success": True, "errors": [], "messages": [], "result": r, **extra})
        rest = path[len("/client/v4/user/tokens"):]
        byid = {t["id"]: (v, t) for v, t in cf.items() if not t["deleted"]}
        if self.command == "GET" and rest == "/verify":
            return ok({"id": me["id"], "status": "active"})
        if self.command == "GET" and rest == "":
            return ok([{"id": t["id"], "name": t["name"]} for _, t in byid.values()], {"result_info": {"total_pages": 1}})
        if self.command == "POST" and rest == "":
            b = self.body()
            v = cf_new(b["name"], b["policies"])
            return ok({"id": cf[v]["id"], "value": v})
        tid = rest.strip("/").split("/")[0]
        if tid not in byid:
            return self.reply(404, {"success": False, "errors": [{"code": 1003, "message": "Token not found"}]})
        v, t = byid[tid]
        if self.command == "GET":
            return ok({"id": tid, "name": t["name"], "policies": t["policies"], "condition": {}})
        if self.command == "DELETE":
            t["deleted"] = True
            return ok({"id": tid})
        if self.command == "PUT" and rest.endswith("/value"):
            self.body()
            nv = secrets.token_hex(20)
            cf[nv] = cf.pop(v)
            return ok(nv)
        return self.reply(404, {})

    def gitlab(self, path):
        me = gl.get(self.headers.get("private-token", ""))
        if not me or me["revoked"]:
            return self.reply(401, {"message": "401 Unauthorized"})
        info = lambda t: {"id": t["id"], "name": "ci", "active": not t["revoked"], "revoked": t["revoked"], "expires_at": t.get("expires_at")}
        if path == "/api/v4/personal_access_tokens/self" and self.command == "GET":
            return self.reply(200, info(me))
        if path == "/api/v4/personal_access_tokens/self" and self.command == "DELETE":
            me["revoked"] = True
            return self.reply(204, {})
        if path == "/api/v4/personal_access_tokens/self/rotate" and self.command == "POST":
            b = self.body()
            me["revoked"] = True
            v = gl_new()
            gl[v]["expires_at"] = b.get("expires_at")
            return self.reply(200, {**info(gl[v]), "token": v})
        return self.reply(404, {"message": "404 Not found"})

    def route(self):
        path = self.path.split("?")[0]
        if path.startswith("/client/v4/user/tokens"):
            return self.cloudflare(path)
        if path.startswith("/api/v4/"):
            return self.gitlab(path)
        return self.reply(404, {})

    do_GET = do_POST = do_PUT = do_DELETE = route

policies = [{"effect": "allow", "resources": {"com.cloudflare.api.account.zone.z": "*"},
             "permission_groups": [{"id": "686d18d5ac6c441c867cbf6771e58a0a"}]}]
json.dump({"cloudflare": cf_new("bench", policies), "cloudflare_roll": cf_new("bench roll", policies),
           "gitlab": gl_new()}, open(sys.argv[1], "w"))
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
