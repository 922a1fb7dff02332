#!/usr/bin/env python3
"""Check the gsec credential-detection rule pack (src/scan/rules/*.toml).

For every rule this verifies:
  * required fields are present and well-typed, ids are unique kebab-case;
  * keywords are non-empty lowercase literals;
  * the pattern compiles (Python `re`, restricted to the Rust-`regex`-compatible
    subset: no lookaround, no backreferences, no possessive quantifiers);
  * every `tp` line contains a keyword (case-insensitively), matches the
    pattern, and its captured secret passes the entropy threshold and the
    validator, contains no placeholder word, and is not cut short (followed
    by a word character, `=`, or `.` and an alphanumeric);
  * no `fp` line yields a secret that passes all of those (like the engine,
    a secret containing a placeholder word such as EXAMPLE is dropped).
It also warns (without failing) when all tp samples of a rule are also found
by a rule of a different provider, and prints rule / provider counts.

Usage: python3 scripts/check_rules.py [rules_dir]
Exit status is non-zero on any failure.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
import sys
import tomllib
import warnings
import zlib
from collections import Counter
from pathlib import Path

# Python warns (FutureWarning) about class syntax that the Rust regex crate
# interprets differently (nested sets, `--`, `&&`, `~~`); treat it as an error.
warnings.simplefilter("error", FutureWarning)

REQUIRED = {"id": str, "provider": str, "description": str, "keywords": list,
            "pattern": str, "tp": list, "fp": list}
OPTIONAL = {"entropy": (int, float), "validator": str, "fallback": bool,
            "verify": dict}
VERIFY_KEYS = {"method", "url", "headers", "basic", "query", "form", "live",
               "invalid", "json"}
HOST_RE = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+$")
VALIDATORS = {"github-checksum", "npm-checksum", "packagist-checksum", "jwt", "secret-value"}
PLACEHOLDER_WORDS = ("example", "sample", "dummy", "placeholder", "xxxx",
                     "changeme", "test")
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Constructs that Rust's `regex` crate rejects or treats differently.
UNSUPPORTED = [
    (re.compile(r"\(\?[=!]|\(\?<[=!]"), "lookaround"),
    (re.compile(r"\\[1-9]|\(\?P=\w+\)"), "backreference"),
    (re.compile(r"(?<!\\)[*+?}]\+"), "possessive quantifier"),
    (re.compile(r"\\[zZ]"), r"\z/\Z (differs between Python and Rust)"),
    (re.compile(r"\\[pP]\{"), "unicode class"),
    (re.compile(r"\(\?<\w+>"), "use (?P<name>...) for named groups"),
    (re.compile(r"(?<!\\)\{,"), "{,n} (write {0,n})"),
]

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def check_verify(v: dict) -> list[str]:
    """A live check (`[rules.verify]`, see src/scan/verify.rs): https to a
    fixed host, the candidate ({secret}) only in header, query, form or
    basic values, final statuses. The Rust unit tests check the same."""
    out = []
    extra = set(v) - VERIFY_KEYS
    if extra:
        out.append(f"unknown fields {sorted(extra)}")
    url = v.get("url", "")
    m = re.match(r"^https://([^/?#]+)(/[^#]*)?$", url) if isinstance(url, str) else None
    if not m or not HOST_RE.match(m.group(1)):
        out.append(f"url {url!r} is not https:// to a fixed host (no port, user info or fragment)")
    if "{" in url or "}" in url:
        out.append("url may not hold a placeholder")
    if v.get("method", "GET") not in ("GET", "POST", "HEAD"):
        out.append("method is GET, POST or HEAD")
    values = []
    for k in ("headers", "query", "form"):
        values += list(v.get(k, {}).values())
    b = v.get("basic") or {}
    values += [b.get("user", ""), b.get("password", "")]
    if not any("{secret}" in x for x in values):
        out.append("{secret} appears in no header, query, form or basic value")
    if any(re.search(r"\{(?!secret\})", x) for x in values):
        out.append("only {secret} is substituted")
    if v.get("form") and v.get("method") != "POST":
        out.append("a form needs method = \"POST\"")
    live, invalid = v.get("live", []), v.get("invalid", [])
    if not live:
        out.append("live needs a status")
    for s in live + invalid:
        if not isinstance(s, int) or not 100 <= s <= 599 or 300 <= s < 400:
            out.append(f"status {s!r} is not a final answer")
    if set(live) & set(invalid):
        out.append("a status is both live and invalid")
    return out


def shannon(s: str) -> float:
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def base62(n: int, width: int = 6) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out.rjust(width, "0")


def checksum_ok(token: str, prefix_re: str) -> bool:
    m = re.fullmatch(prefix_re + r"([A-Za-z0-9]{30})([A-Za-z0-9]{6})", token)
    if not m:
        return False
    random_part, check = m.group(1), m.group(2)
    return base62(zlib.crc32(random_part.encode())) == check


def jwt_ok(token: str) -> bool:
    header = token.split(".")[0]
    try:
        raw = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        obj = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    return isinstance(obj, dict) and "alg" in obj


def validate(name: str | None, secret: str) -> bool:
    if name is None:
        return True
    if name == "github-checksum":
        return checksum_ok(secret, r"gh[pousr]_")
    if name == "npm-checksum":
        return checksum_ok(secret, r"npm_")
    if name == "packagist-checksum":
        m = re.fullmatch(r"(packagist_[a-z]{3}_[0-9a-f]{60})([0-9a-f]{8})", secret)
        return bool(m) and f"{zlib.crc32(m.group(1).encode()):08x}" == m.group(2)
    if name == "jwt":
        return jwt_ok(secret)
    if name == "secret-value":
        # Generic detection's judgement (src/scan/generic.rs), approximated:
        # letters and digits mixed. The Rust rule tests run the real one.
        return any(c.isdigit() for c in secret) and any(c.isalpha() for c in secret)
    return False


DOC_EXAMPLES = [
    line.strip()
    for line in (Path(__file__).resolve().parent.parent / "src/scan/doc_examples.txt")
    .read_text().splitlines()
    if line.strip() and not line.strip().startswith("#")
]


def is_placeholder(secret: str) -> bool:
    low = secret.lower()
    return any(w in low for w in PLACEHOLDER_WORDS) or any(d in secret for d in DOC_EXAMPLES)


def secret_group(rx: re.Pattern):
    """The group that holds the secret: `secret` if named, else the first."""
    if "secret" in rx.groupindex:
        return "secret"
    return 1 if rx.groups >= 1 else 0


def secrets(rule: dict, rx: re.Pattern, text: str, drop_placeholders: bool = True):
    """Yield (secret, passes) for each match, mimicking the engine."""
    if not any(k in text.lower() for k in rule["keywords"]):
        return
    g = secret_group(rx)
    for m in rx.finditer(text):
        s = m.group(g)
        if s is None:
            continue
        ok = shannon(s) >= rule.get("entropy", 0) and validate(rule.get("validator"), s)
        yield s, ok and not (drop_placeholders and is_placeholder(s))


def cut_short(rx: re.Pattern, text: str):
    """What follows each captured secret in `text` when it looks like more
    of the same token: a word character, `=` (base64 padding), or `.` and an
    alphanumeric (a routable GitLab token's `.01.…` tail, a JWT's next
    segment). A sample whose secret is cut there proves a pattern that
    reports part of a credential."""
    if rx.groups < 1:
        return
    g = secret_group(rx)
    for m in rx.finditer(text):
        if m.group(g) is None:
            continue
        rest = text[m.end(g):m.end(g) + 2]
        if re.match(r"\w|=|\.[A-Za-z0-9]", rest, re.ASCII):
            yield rest


def load(rules_dir: Path):
    rules = []
    for path in sorted(rules_dir.glob("*.toml")):
        with path.open("rb") as f:
            data = tomllib.load(f)
        for r in data.get("rules", []):
            r["_file"] = path.name
            rules.append(r)
    return rules


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    rules_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "src/scan/rules"
    errors: list[str] = []
    warns: list[str] = []
    rules = load(rules_dir)
    if not rules:
        print(f"no rules found in {rules_dir}")
        return 1
    ids: Counter = Counter(r.get("id") for r in rules)
    for i, n in ids.items():
        if n > 1:
            errors.append(f"duplicate id {i!r} ({n} times)")

    compiled: dict[str, re.Pattern] = {}
    for r in rules:
        where = f"{r['_file']}:{r.get('id', '?')}"
        for k, t in REQUIRED.items():
            if not isinstance(r.get(k), t):
                errors.append(f"{where}: missing or mistyped field {k!r}")
        for k, t in OPTIONAL.items():
            if k in r and not isinstance(r[k], t):
                errors.append(f"{where}: mistyped field {k!r}")
        extra = set(r) - set(REQUIRED) - set(OPTIONAL) - {"_file"}
        if extra:
            errors.append(f"{where}: unknown fields {sorted(extra)}")
        if errors and errors[-1].startswith(where + ": missing"):
            continue
        if not ID_RE.match(r["id"]):
            errors.append(f"{where}: id is not kebab-case")
        if isinstance(r.get("verify"), dict):
            for e in check_verify(r["verify"]):
                errors.append(f"{where}: verify: {e}")
        if r.get("validator") is not None and r["validator"] not in VALIDATORS:
            errors.append(f"{where}: unknown validator {r['validator']!r}")
        kws = r["keywords"]
        if not kws or any(not isinstance(k, str) or not k or k != k.lower() for k in kws):
            errors.append(f"{where}: keywords must be non-empty lowercase strings")
        if len(r["tp"]) < 2:
            errors.append(f"{where}: needs >= 2 tp samples")
        if len(r["fp"]) < 1:
            errors.append(f"{where}: needs >= 1 fp sample")
        for bad, what in UNSUPPORTED:
            if bad.search(r["pattern"]):
                errors.append(f"{where}: pattern uses {what}")
        try:
            rx = re.compile(r["pattern"])
        except (re.error, FutureWarning) as e:
            errors.append(f"{where}: pattern does not compile: {e}")
            continue
        if rx.groups < 1:
            errors.append(f"{where}: pattern has no capture group")
        compiled[r["id"]] = rx

        for line in r["tp"]:
            if not any(k in line.lower() for k in kws):
                errors.append(f"{where}: tp has no keyword: {line!r}")
                continue
            found = list(secrets(r, rx, line, drop_placeholders=False))
            if not found:
                errors.append(f"{where}: tp does not match: {line!r}")
            elif not any(ok for _, ok in found):
                s = found[0][0]
                errors.append(f"{where}: tp secret fails entropy ({shannon(s):.2f} < "
                              f"{r.get('entropy', 0)}) or validator: {s!r}")
            for s, ok in found:
                if ok and is_placeholder(s):
                    errors.append(f"{where}: tp secret contains a placeholder word: {s!r}")
            for rest in cut_short(rx, line):
                errors.append(f"{where}: tp secret is cut short (followed by {rest!r}): {line!r}")
        for line in r["fp"]:
            hits = [s for s, ok in secrets(r, rx, line) if ok]
            if hits:
                errors.append(f"{where}: fp yields a finding {hits[0]!r}: {line!r}")

    # Overlap: every tp sample of rule A is also found by a rule of another provider.
    for a in rules:
        if a.get("id") not in compiled:
            continue
        for b in rules:
            if b is a or b.get("id") not in compiled or b["provider"] == a["provider"]:
                continue
            if all(any(ok for _, ok in secrets(b, compiled[b["id"]], t)) for t in a["tp"]):
                warns.append(f"overlap: all tp of {a['id']} ({a['provider']}) are also "
                             f"found by {b['id']} ({b['provider']})")

    for w in warns:
        print("WARN ", w)
    for e in errors:
        print("ERROR", e)
    providers = {r.get("provider") for r in rules}
    files = Counter(r["_file"] for r in rules)
    for f, n in sorted(files.items()):
        print(f"  {f}: {n} rules")
    print(f"rules: {len(rules)}  distinct providers: {len(providers)}  "
          f"warnings: {len(warns)}  errors: {len(errors)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
