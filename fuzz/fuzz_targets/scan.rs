//! The leak scanner: its decoders (`scan::decode::each_span`: base64, hex,
//! percent-encoding), the detection engine over one buffer (rules, generic
//! detection, Kubernetes secrets, managed values, decoding layers), the
//! scanner and every report format, and the `--mask` stream masker.
//!
//! Input: one selector byte (file name, chunking), then the content.
//!
//! Invariants:
//! - no panic;
//! - every decoded span is inside the buffer and is what its bytes decode
//!   to (hex, base64 or percent-encoding);
//! - hits are inside the buffer, sorted, and carry a non-empty secret;
//! - a managed value (the canary) is found wherever its plain form occurs;
//! - no report (human, JSON, SARIF, GitHub annotations) contains a secret
//!   the engine found, and a finding shows at most 4 characters of it;
//! - `--mask` output, whatever the read sizes, contains no form of the
//!   masked value.
#![no_main]

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use gsec::mask::{Masker, Patterns};
use gsec::scan::engine::{Engine, Options, RuleRef};
use gsec::scan::managed::{Managed, Origin};
use gsec::scan::report::{self, Format};
use gsec::scan::source::{Fragment, Lines, Sink, Source};
use gsec::scan::{Scanner, Setup};
use gsec_fuzz::CANARY;
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

const T: &str = "scan";

const NAMES: &[&str] = &[
    "-",
    ".env",
    "config/app.yaml",
    "src/settings.py",
    "k8s/secret.yaml",
    "web/client.ts",
    "data/users.json",
    "docs/setup.md",
];

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let canary = (
            Zeroizing::new(CANARY.as_bytes().to_vec()),
            Origin {
                env: "development".into(),
                name: "API_TOKEN".into(),
            },
        );
        Engine::new(Options {
            decode_depth: gsec::scan::DEFAULT_DECODE_DEPTH,
            generic: true,
            managed: Managed::new(vec![canary]).map(Arc::new),
            ..Options::default()
        })
        .expect("engine")
    })
}

fn scanner() -> &'static Scanner {
    static S: OnceLock<Scanner> = OnceLock::new();
    S.get_or_init(|| Scanner::new(&Setup::default()).expect("scanner"))
}

struct One<'a> {
    name: &'a str,
    content: &'a [u8],
}

impl Source for One<'_> {
    fn scan(&self, sink: &Sink<'_>) -> gsec::Result<()> {
        sink.fragment(&Fragment {
            rel: self.name,
            shown: self.name,
            content: self.content,
            commit: None,
            lines: Lines::All,
            seq: 0,
        });
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    gsec_fuzz::guarded(|| {
        let Some((&sel, content)) = data.split_first() else {
            return;
        };
        let name = NAMES[(sel & 7) as usize];
        decoders(content);
        let secrets = engine_hits(name, content);
        reports(name, content, &secrets);
        masking(content, (sel >> 3) as usize + 1);
    })
});

fn decoders(content: &[u8]) {
    gsec::scan::decode::each_span(content, |start, end, decoded| {
        assert!(
            start < end && end <= content.len(),
            "{T}: span {start}..{end} outside the buffer"
        );
        assert!(decoded.len() >= 8, "{T}: decoded span shorter than 8 bytes");
        let span = &content[start..end];
        // A base64 or hex run's span takes up to two `=` after it.
        let mut run = span;
        while let Some(r) = run.strip_suffix(b"=") {
            run = r;
        }
        let hex_ok = hex::encode(decoded).as_bytes().eq_ignore_ascii_case(run);
        let b64_ok = [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD].iter().any(|e| {
            let enc = e.encode(decoded);
            run.starts_with(enc.as_bytes())
        });
        let pct_ok = percent_decode(span) == decoded;
        assert!(
            hex_ok || b64_ok || pct_ok,
            "{T}: span {start}..{end} does not encode what was decoded"
        );
    });
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hexval = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && i + 2 < s.len()
            && let (Some(h), Some(l)) = (hexval(s[i + 1]), hexval(s[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn engine_hits(name: &str, content: &[u8]) -> Vec<Vec<u8>> {
    // Only pack rules: build.rs compiled every one, so none may fail here.
    let hits = engine()
        .scan_named(name, content)
        .unwrap_or_else(|e| panic!("{T}: {e}"));
    let mut prev = (0, 0);
    let mut managed = false;
    for h in &hits {
        assert!(
            h.start <= h.end && h.end <= content.len(),
            "{T}: hit {}..{} outside the buffer",
            h.start,
            h.end
        );
        assert!(
            !h.secret.is_empty(),
            "{T}: empty secret from {}",
            h.rule.id()
        );
        assert!((h.start, h.end) >= prev, "{T}: hits not sorted");
        prev = (h.start, h.end);
        managed |= matches!(h.rule, RuleRef::Managed) && h.secret[..] == *CANARY.as_bytes();
    }
    if memchr::memmem::find(content, CANARY.as_bytes()).is_some() {
        assert!(
            managed,
            "{T}: the managed value occurs in plain text and was not found"
        );
    }
    hits.iter().map(|h| h.secret.to_vec()).collect()
}

fn reports(name: &str, content: &[u8], secrets: &[Vec<u8>]) {
    let report = gsec::scan::run(scanner(), &One { name, content })
        .unwrap_or_else(|e| panic!("{T}: a one-buffer scan failed: {e}"));
    for f in &report.findings {
        assert!(
            f.redacted.chars().count() <= 4,
            "{T}: a finding shows {} characters of its secret",
            f.redacted.chars().count()
        );
        assert!(f.line >= 1 && f.column >= 1, "{T}: line/column start at 1");
    }
    let fixed: Vec<String> = report
        .findings
        .iter()
        .flat_map(|f| {
            // A fingerprint is a keyed hash printed by design; the input
            // may hold another finding's fingerprint (libFuzzer copies
            // compared bytes into inputs), which is then a "secret" too.
            [
                f.description.to_string(),
                f.rule.to_string(),
                f.file.clone(),
                // Locations are printed by design (`file:line:column`); an
                // input may make a "secret" of `file:line` text.
                format!("{}:{}:{}", f.file, f.line, f.column),
                f.fingerprint.clone(),
            ]
        })
        .collect();
    for fmt in [Format::Human, Format::Json, Format::Sarif, Format::Github] {
        let mut out = Vec::new();
        report::write(fmt, &report, &mut out).expect("write to a Vec");
        if matches!(fmt, Format::Json | Format::Sarif) {
            serde_json::from_slice::<serde_json::Value>(&out)
                .unwrap_or_else(|e| panic!("{T}: {fmt:?} report is not JSON: {e}"));
        }
        for s in secrets.iter().filter(|s| s.len() >= 12) {
            let in_fixed = fixed
                .iter()
                .any(|t| memchr::memmem::find(t.as_bytes(), s).is_some());
            if !in_fixed && memchr::memmem::find(&out, s).is_some() {
                panic!(
                    "{T}: the {fmt:?} report contains a secret the scanner found ({} bytes)",
                    s.len()
                );
            }
        }
    }
}

/// `gsec run --mask`: the first line of the content is the value, the rest
/// the program's output, pushed in reads of `chunk` bytes.
fn masking(content: &[u8], chunk: usize) {
    let Some(nl) = content.iter().position(|&b| b == b'\n') else {
        return;
    };
    let Ok(value) = std::str::from_utf8(&content[..nl]) else {
        return;
    };
    if value.len() < gsec::mask::MIN_LEN || value.contains('*') || value.contains('\r') {
        return;
    }
    let output = &content[nl + 1..];
    let Ok(Some(p)) = Patterns::new([value]) else {
        return;
    };
    let mut m = Masker::new(&p);
    let mut streamed = Vec::new();
    for c in output.chunks(chunk) {
        m.push(c, &mut streamed);
    }
    m.finish(&mut streamed);
    let whole = gsec::mask::mask_all(&p, output);
    let forms = [
        value.to_string(),
        STANDARD.encode(value),
        STANDARD_NO_PAD.encode(value),
        URL_SAFE.encode(value),
        URL_SAFE_NO_PAD.encode(value),
    ];
    for (what, out) in [("streamed", &streamed), ("whole", &whole)] {
        for f in &forms {
            if f.len() >= gsec::mask::MIN_LEN && memchr::memmem::find(out, f.as_bytes()).is_some() {
                panic!("{T}: {what} --mask output still contains a form of the value ({f:?})");
            }
        }
    }
}
