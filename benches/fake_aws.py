#!/usr/bin/env python3
"""A minimal fake IAM/STS for benches/aws.sh: keeps users' access keys, tags
and statuses, enforces two keys per user, and checks each request's SigV4
signature (HMAC-SHA256 over the canonical request, as AWS documents it) with
the secret of the signing key. Prints its port, then serves until killed.
The test suite's fake (tests/cli/fake_aws.rs) checks far more.
usage: fake_aws.py KEYS_JSON_OUT   (writes {"app": {...}, "admin": {...}})"""
import hashlib, hmac, json, secrets, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

keys = {}   # id -> {"user", "secret", "active"}
tags = {}   # user -> {k: v}

def new_key(user):
    kid = "AKIA" + secrets.token_hex(8).upper()
    keys[kid] = {"user": user, "secret": secrets.token_urlsafe(30)[:40], "active": True}
    return kid

def h(k, m):
    return hmac.new(k, m.encode(), hashlib.sha256).digest()

def enc(s):
    return urllib.parse.quote(s, safe="-_.~")

def verify(method, path, headers, body):
    auth = headers.get("authorization", "")
    parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    kid, date, region, service, _ = parts["Credential"].split("/")
    k = keys.get(kid)
    if not k or not k["active"]:
        return None, "InvalidClientTokenId"
    signed = parts["SignedHeaders"].split(";")
    canon = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in signed)
    creq = "\n".join([method, "/".join(enc(s) for s in path.split("/")), "", canon,
                      ";".join(signed), hashlib.sha256(body).hexdigest()])
    sts = "\n".join(["AWS4-HMAC-SHA256", headers["x-amz-date"], f"{date}/{region}/{service}/aws4_request",
                     hashlib.sha256(creq.encode()).hexdigest()])
    key = h(h(h(h(("AWS4" + k["secret"]).encode(), date), region), service), "aws4_request")
    if hmac.new(key, sts.encode(), hashlib.sha256).hexdigest() != parts["Signature"]:
        return None, "SignatureDoesNotMatch"
    return k, None

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, status, body):
        b = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def err(self, status, code):
        self.reply(status, f"<ErrorResponse><Error><Code>{code}</Code><Message>{code}</Message></Error></ErrorResponse>")

    def ok(self, action, inner=""):
        self.reply(200, f"<{action}Response><{action}Result>{inner}</{action}Result></{action}Response>")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        hdrs = {k.lower(): v for k, v in self.headers.items()}
        signer, e = verify("POST", self.path, hdrs, body)
        if e:
            return self.err(403, e)
        p = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        a, user = p.get("Action"), p.get("UserName", signer["user"])
        mine = [i for i, k in keys.items() if k["user"] == user]
        if a == "GetCallerIdentity":
            return self.ok(a, f"<Arn>arn:aws:iam::123456789012:user/{signer['user']}</Arn>")
        if a == "ListAccessKeys":
            m = "".join(f"<member><AccessKeyId>{i}</AccessKeyId><Status>{'Active' if keys[i]['active'] else 'Inactive'}</Status></member>" for i in mine)
            return self.ok(a, f"<AccessKeyMetadata>{m}</AccessKeyMetadata>")
        if a == "ListUserTags":
            m = "".join(f"<member><Key>{k}</Key><Value>{v}</Value></member>" for k, v in tags.get(user, {}).items())
            return self.ok(a, f"<Tags>{m}</Tags>")
        if a == "TagUser":
            tags.setdefault(user, {})[p["Tags.member.1.Key"]] = p["Tags.member.1.Value"]
            return self.ok(a)
        if a == "CreateAccessKey":
            if len(mine) >= 2:
                return self.err(409, "LimitExceeded")
            i = new_key(user)
            return self.ok(a, f"<AccessKey><AccessKeyId>{i}</AccessKeyId><SecretAccessKey>{keys[i]['secret']}</SecretAccessKey></AccessKey>")
        if a in ("UpdateAccessKey", "DeleteAccessKey"):
            i = p.get("AccessKeyId")
            if i not in mine:
                return self.err(404, "NoSuchEntity")
            if a == "DeleteAccessKey":
                del keys[i]
            else:
                keys[i]["active"] = p.get("Status") == "Active"
            return self.ok(a)
        return self.err(400, "InvalidAction")

out = {}
for user in ("app", "admin"):
    i = new_key(user)
    out[user] = {"Version": 1, "AccessKeyId": i, "SecretAccessKey": keys[i]["secret"]}
with open(sys.argv[1], "w") as f:
    json.dump(out, f)
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
