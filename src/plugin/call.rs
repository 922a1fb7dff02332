//! One ABI call: a fresh instance under the plugin's limits, the request
//! written into guest memory, `gsec_call` run, the response read back and
//! classified (an answer, `{"error": …}`, or what stopped the plugin).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{InstancePre, Store, Trap};
use zeroize::Zeroizing;

use super::abi::{ABI_VERSION, Created, Leased, Op};
use super::error::{ErrorKind, PluginError, json_error, root_cause};
use super::limits::{Limiter, Limits};
use super::log::{one_line, redact, render_logs};
use super::{Host, http};

/// Largest JSON response read back from a plugin.
const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// A compiled, linked plugin that can be called: what a call needs, before
/// (and while) its `info` is checked.
pub(super) struct Linked {
    pub host: Host,
    pub name: String,
    /// As configured, for messages.
    pub path: PathBuf,
    pub pre: InstancePre<State>,
    pub limits: Limits,
}

/// Per-call store data.
pub(super) struct State {
    limiter: Limiter,
    pub policy: Arc<http::Policy>,
    pub deadline: Instant,
    pub budget: Duration,
    /// A policy violation seen by a host function; it ends the call and is
    /// reported instead of the trap it causes.
    pub violation: Option<ErrorKind>,
    pub logs: Vec<(i32, String)>,
    pub dropped_logs: usize,
}

/// An ABI breach detected by the host while driving the call.
#[derive(Debug)]
struct CallError(ErrorKind);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for CallError {}

/// Stop the call: the plugin broke the ABI.
pub(super) fn protocol(msg: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::new(CallError(ErrorKind::Protocol(msg.into())))
}

impl Linked {
    pub fn fail(&self, kind: ErrorKind) -> PluginError {
        PluginError {
            name: self.name.clone(),
            path: self.path.clone(),
            kind,
        }
    }

    /// One ABI call in a fresh instance: write the request into guest
    /// memory, run `gsec_call` under the time and memory limits, read the
    /// response. `secrets` are redacted from the plugin's log lines and
    /// error messages; `policy` says which hosts it may reach.
    pub fn call(
        &self,
        op: Op,
        request: &[u8],
        policy: Arc<http::Policy>,
        secrets: &[Zeroizing<String>],
    ) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        let host = &self.host;
        let started = Instant::now();
        let mut store = Store::new(
            host.engine(),
            State {
                limiter: Limiter {
                    max_bytes: self.limits.memory_bytes(),
                    hit: false,
                },
                policy,
                deadline: started + self.limits.budget,
                budget: self.limits.budget,
                violation: None,
                logs: Vec::new(),
                dropped_logs: 0,
            },
        );
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(self.limits.ticks());
        store.epoch_deadline_trap();
        let ticking = host.start_ticking();
        let result = run(&mut store, &self.pre, request);
        drop(ticking);

        let logs = std::mem::take(&mut store.data_mut().logs);
        let dropped = store.data().dropped_logs;
        let out = result
            .map_err(|e| self.classify(e, &mut store, op))
            .and_then(|out| self.answer(op, out, secrets));
        // The new value is a secret too: redact it from the logs.
        let mut secrets: Vec<Zeroizing<String>> = secrets.to_vec();
        if let (Op::Create, Ok(out)) = (op, &out)
            && let Ok(c) = serde_json::from_slice::<Created>(out)
        {
            secrets.push(c.value);
        }
        if let (Op::Lease, Ok(out)) = (op, &out)
            && let Ok(l) = serde_json::from_slice::<Leased>(out)
        {
            secrets.extend(l.values.into_values());
        }
        // Whatever text of the plugin's reaches an error is redacted too.
        let out = out.map_err(|mut e| {
            e.kind = e.kind.redacted(&secrets);
            e
        });
        for line in render_logs(&self.name, logs, dropped, &secrets, host.debug()) {
            host.note(&line);
        }
        if host.debug() && op != Op::Info {
            host.note(&format!(
                "plugin '{}': '{}' took {:.2} ms",
                self.name,
                op.as_str(),
                started.elapsed().as_secs_f64() * 1000.0
            ));
        }
        out
    }

    /// The response as an answer: `{"error": …}` is the plugin saying no
    /// (or, with `"retry": true`, that it could not tell).
    fn answer(
        &self,
        op: Op,
        out: Zeroizing<Vec<u8>>,
        secrets: &[Zeroizing<String>],
    ) -> Result<Zeroizing<Vec<u8>>, PluginError> {
        #[derive(serde::Deserialize)]
        struct MaybeError {
            error: Option<String>,
            #[serde(default)]
            retry: bool,
        }
        match serde_json::from_slice::<MaybeError>(&out) {
            // Plugins should never put secrets in errors; if one does, the
            // values gsec gave it are still not shown.
            Ok(MaybeError {
                error: Some(msg),
                retry,
            }) => {
                let msg = one_line(&redact(&msg, secrets), 300);
                let op = op.as_str();
                Err(self.fail(if retry {
                    ErrorKind::Unavailable { op, msg }
                } else {
                    ErrorKind::Failed { op, msg }
                }))
            }
            Ok(_) => Ok(out),
            Err(e) => Err(self.fail(ErrorKind::Protocol(format!(
                "'{}' response is not a JSON object: {}",
                op.as_str(),
                json_error(&e)
            )))),
        }
    }

    /// Turn a wasmtime failure into what happened, most specific first.
    /// A timeout is the epoch deadline trapping (or an HTTP request cut off
    /// by it), never a guess from elapsed time.
    fn classify(&self, e: wasmtime::Error, store: &mut Store<State>, op: Op) -> PluginError {
        if let Some(v) = store.data_mut().violation.take() {
            return self.fail(v);
        }
        if store.data().limiter.hit {
            return self.fail(ErrorKind::Memory {
                mb: self.limits.memory_mb,
            });
        }
        if let Some(k) = e.downcast_ref::<CallError>() {
            return self.fail(k.0.clone());
        }
        let trap = e.downcast_ref::<Trap>().copied();
        if trap == Some(Trap::Interrupt) {
            return self.fail(ErrorKind::Timeout {
                secs: self.limits.budget.as_secs(),
            });
        }
        self.fail(ErrorKind::Trap {
            op: op.as_str(),
            trap: match trap {
                Some(t) => t.to_string(),
                None => root_cause(&e),
            },
        })
    }
}

/// Instantiate, check the ABI version, pass the request, return the
/// response bytes.
fn run(
    store: &mut Store<State>,
    pre: &InstancePre<State>,
    request: &[u8],
) -> wasmtime::Result<Zeroizing<Vec<u8>>> {
    let instance = pre.instantiate(&mut *store)?;
    let version = instance
        .get_typed_func::<(), i32>(&mut *store, "gsec_abi_version")?
        .call(&mut *store, ())?;
    if version != ABI_VERSION {
        return Err(wasmtime::Error::new(CallError(ErrorKind::Abi(format!(
            "built for plugin ABI version {version}, but this gsec speaks version {ABI_VERSION} ({})",
            if version > ABI_VERSION {
                "upgrade gsec"
            } else {
                "rebuild the plugin with a current gsec-plugin-sdk"
            }
        )))));
    }
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| protocol("no memory export"))?;
    let len = i32::try_from(request.len()).map_err(|_| protocol("request too large"))?;
    let ptr = instance
        .get_typed_func::<i32, i32>(&mut *store, "gsec_alloc")?
        .call(&mut *store, len)?;
    memory
        .write(&mut *store, ptr as u32 as usize, request)
        .map_err(|_| {
            protocol(format!(
                "gsec_alloc({len}) returned an out-of-bounds pointer"
            ))
        })?;
    let packed = instance
        .get_typed_func::<(i32, i32), i64>(&mut *store, "gsec_call")?
        .call(&mut *store, (ptr, len))?;
    let (rptr, rlen) = unpack(packed);
    if rlen > MAX_RESPONSE_BYTES {
        return Err(protocol(format!(
            "response of {rlen} bytes is over the {} MiB limit",
            MAX_RESPONSE_BYTES >> 20
        )));
    }
    let data = memory.data(&*store);
    let out = rptr
        .checked_add(rlen)
        .and_then(|end| data.get(rptr..end))
        .ok_or_else(|| protocol("gsec_call returned an out-of-bounds response"))?;
    Ok(Zeroizing::new(out.to_vec()))
}

fn unpack(packed: i64) -> (usize, usize) {
    let p = packed as u64;
    ((p >> 32) as usize, (p & 0xffff_ffff) as usize)
}
