//! Retries with exponential backoff for 429 and 5xx answers and transport
//! failures, honouring `Retry-After` (seconds or an HTTP date).
//!
//! ```ignore
//! let resp = retry::Policy::default().run(|| http::get(url, &headers))?;
//! ```
//!
//! The closure is called again for every attempt, so signed requests
//! (SigV4 includes the time) are signed afresh. Waits are short and
//! bounded: the ABI has no sleep, so [`crate::sleep_ms`] watches the clock
//! inside the call's time budget. When the provider asks for a longer wait
//! than [`Policy::max_wait_ms`], or the attempts run out, the result is an
//! [`Error::retry`]: gsec keeps the step pending for `gsec rotate --resume`.

use crate::http::Response;
use crate::{Error, Result};

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts in all (the first one included).
    pub attempts: u32,
    /// The first backoff; it doubles after every attempt.
    pub base_ms: u64,
    /// The longest single wait, backoff or `Retry-After`; a provider asking
    /// for more ends the retries.
    pub max_wait_ms: u64,
}

impl Default for Policy {
    /// 4 attempts, waiting 250 ms, 500 ms, 1 s (plus jitter), at most 5 s.
    fn default() -> Self {
        Policy {
            attempts: 4,
            base_ms: 250,
            max_wait_ms: 5_000,
        }
    }
}

/// What to do with one attempt's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Return it.
    Done,
    /// Try again (after the backoff or the response's `Retry-After`).
    Retry,
}

impl Policy {
    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = n.max(1);
        self
    }
    pub fn base_ms(mut self, ms: u64) -> Self {
        self.base_ms = ms;
        self
    }
    pub fn max_wait_ms(mut self, ms: u64) -> Self {
        self.max_wait_ms = ms;
        self
    }

    /// Send with retries on 429, 5xx and transport failures.
    pub fn run(&self, send: impl FnMut() -> Result<Response>) -> Result<Response> {
        self.run_with(send, |r| match r {
            Ok(resp) if resp.is_transient() => Verdict::Retry,
            Ok(_) => Verdict::Done,
            Err(e) if e.is_retry() => Verdict::Retry,
            Err(_) => Verdict::Done,
        })
    }

    /// Send with retries when `classify` says so (e.g. AWS's throttling
    /// errors that arrive as HTTP 400). When the attempts run out, a last
    /// response is returned as it is if `classify` retried it for a 2xx-4xx
    /// status, else as an [`Error::retry`].
    pub fn run_with(
        &self,
        mut send: impl FnMut() -> Result<Response>,
        mut classify: impl FnMut(&Result<Response>) -> Verdict,
    ) -> Result<Response> {
        let mut backoff = self.base_ms;
        let mut attempt = 1;
        loop {
            let r = send();
            if classify(&r) == Verdict::Done {
                return r;
            }
            let asked = r
                .as_ref()
                .ok()
                .and_then(|resp| retry_after_ms(resp, crate::now_ms()));
            if attempt >= self.attempts {
                return Err(exhausted(r, attempt));
            }
            if let Some(ms) = asked
                && ms > self.max_wait_ms
            {
                return Err(Error::retry(format!(
                    "{} (the provider asks to wait {} s)",
                    describe(&r),
                    ms.div_ceil(1000)
                )));
            }
            let wait = asked
                .unwrap_or_else(|| jitter(backoff))
                .min(self.max_wait_ms);
            crate::log::debug(&format!(
                "attempt {attempt} of {}: {}; retrying in {wait} ms",
                self.attempts,
                describe(&r)
            ));
            crate::sleep_ms(wait);
            backoff = backoff.saturating_mul(2);
            attempt += 1;
        }
    }
}

fn describe(r: &Result<Response>) -> String {
    match r {
        Ok(resp) => format!("HTTP {}", resp.status),
        Err(e) => e.message().to_string(),
    }
}

fn exhausted(r: Result<Response>, attempts: u32) -> Error {
    Error::retry(format!("{} (after {attempts} attempts)", describe(&r)))
}

/// Half to all of `ms`, at random (spreads clients that failed together).
fn jitter(ms: u64) -> u64 {
    let r = u16::from_le_bytes(crate::random_bytes(2).try_into().unwrap_or([0xff, 0xff])) as u64;
    ms / 2 + (ms / 2) * r / 65_535
}

/// The wait a response's `Retry-After` asks for, in ms: delta-seconds, or
/// an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) relative to `now_ms`.
pub fn retry_after_ms(resp: &Response, now_ms: i64) -> Option<u64> {
    let v = resp.header("retry-after")?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let at = parse_http_date(v)?;
    Some((at.saturating_mul(1000) - now_ms).max(0) as u64)
}

/// An IMF-fixdate (RFC 9110) as Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let rest = s.split_once(", ")?.1;
    let f: Vec<&str> = rest.split(' ').collect();
    let [day, mon, year, time, "GMT"] = f.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == mon)? as u32 + 1;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, se] = t.as_slice() else {
        return None;
    };
    let days = crate::sigv4::days_from_civil(year.parse().ok()?, m, day.parse().ok()?);
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Harness, reply};

    fn get() -> Result<Response> {
        crate::http::get("https://api.example.com/x", &[])
    }

    #[test]
    fn retries_5xx_and_429_then_succeeds() {
        let h = Harness::new()
            .expect("GET https://api.example.com/x", reply(503, ""))
            .expect(
                "GET https://api.example.com/x",
                reply(429, "").header("retry-after", "2"),
            )
            .expect("GET https://api.example.com/x", reply(200, "ok"));
        let r = h.run(|| Policy::default().run(get)).unwrap();
        assert_eq!(r.text(), "ok");
        h.finish();
        let slept = h.slept_ms();
        assert_eq!(slept.len(), 2);
        assert!((125..=250).contains(&slept[0]), "{slept:?}");
        assert_eq!(slept[1], 2000, "Retry-After honoured");
    }

    #[test]
    fn gives_up_as_retry_later() {
        let h = Harness::new().respond(|_| reply(500, ""));
        let e = h
            .run(|| Policy::default().attempts(3).run(get))
            .unwrap_err();
        assert!(e.is_retry());
        assert_eq!(e.message(), "HTTP 500 (after 3 attempts)");
        assert_eq!(h.requests().len(), 3);
        // A long Retry-After ends it at once.
        let h = Harness::new().respond(|_| reply(429, "").header("Retry-After", "3600"));
        let e = h.run(|| Policy::default().run(get)).unwrap_err();
        assert!(e.is_retry() && e.message().contains("wait 3600 s"), "{e}");
        assert_eq!(h.requests().len(), 1);
        // A 4xx is an answer: no retry.
        let h = Harness::new().respond(|_| reply(404, ""));
        assert_eq!(h.run(|| Policy::default().run(get)).unwrap().status, 404);
        assert_eq!(h.requests().len(), 1);
    }

    #[test]
    fn retry_after_as_http_date() {
        let now = 784_111_777_000; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(now / 1000)
        );
        let r = reply(429, "").header("Retry-After", "Sun, 06 Nov 1994 08:49:47 GMT");
        assert_eq!(retry_after_ms(&r.into_response(), now), Some(10_000));
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
