//! The four host functions a plugin may import (`gsec.http`, `gsec.random`,
//! `gsec.now`, `gsec.log`), and nothing else: no WASI, files, sockets or
//! environment.

use rand::RngCore;
use wasmtime::{Caller, Engine, Linker};
use zeroize::Zeroizing;

use super::call::{State, protocol};
use super::error::json_error;
use super::log::{LOG_LINE_MAX, LOG_LINES_MAX};
use super::{abi, http};

/// Largest `random` request in one host call.
const MAX_RANDOM_BYTES: usize = 1 << 20;
/// Largest `http` request read from the guest.
const MAX_HTTP_REQUEST_BYTES: usize = 16 << 20;

/// The four host functions, and nothing else.
pub(super) fn linker(engine: &Engine) -> wasmtime::Result<Linker<State>> {
    let mut l = Linker::new(engine);
    l.func_wrap("gsec", "http", http_fn)?;
    l.func_wrap("gsec", "random", random_fn)?;
    l.func_wrap("gsec", "now", || -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    })?;
    l.func_wrap("gsec", "log", log_fn)?;
    Ok(l)
}

fn http_fn(mut caller: Caller<'_, State>, ptr: i32, len: i32) -> wasmtime::Result<i64> {
    // Requests and responses carry tokens: keep them in buffers that are
    // wiped when dropped.
    let raw = Zeroizing::new(read_guest(
        &mut caller,
        ptr,
        len,
        MAX_HTTP_REQUEST_BYTES,
        "http request",
    )?);
    let req: abi::HttpRequest = serde_json::from_slice(&raw)
        .map_err(|e| protocol(format!("http: bad request JSON: {}", json_error(&e))))?;
    let data = caller.data();
    let (policy, deadline, budget) = (data.policy.clone(), data.deadline, data.budget);
    let resp = match http::perform(&policy, &req, deadline, budget) {
        Ok(r) => r,
        Err(violation) => {
            caller.data_mut().violation = Some(violation);
            return Err(wasmtime::Error::msg("stopped by host policy"));
        }
    };
    let out = Zeroizing::new(
        serde_json::to_vec(&resp)
            .map_err(|e| protocol(format!("http: cannot encode response: {}", json_error(&e))))?,
    );
    give_guest(&mut caller, &out)
}

fn random_fn(mut caller: Caller<'_, State>, ptr: i32, len: i32) -> wasmtime::Result<()> {
    let n = len as u32 as usize;
    if n > MAX_RANDOM_BYTES {
        return Err(protocol(format!(
            "random: {n} bytes in one call is over the 1 MiB limit"
        )));
    }
    let mut buf = Zeroizing::new(vec![0u8; n]);
    rand::rngs::OsRng.fill_bytes(&mut buf);
    guest_memory(&mut caller)?
        .write(&mut caller, ptr as u32 as usize, &buf)
        .map_err(|_| protocol("random: pointer out of bounds"))
}

fn log_fn(mut caller: Caller<'_, State>, level: i32, ptr: i32, len: i32) -> wasmtime::Result<()> {
    if caller.data().logs.len() >= LOG_LINES_MAX {
        caller.data_mut().dropped_logs += 1;
        return Ok(());
    }
    // Read at most a little more than we print; the rest is ignored.
    let take = (len as u32).min(LOG_LINE_MAX as u32 * 4) as i32;
    let raw = read_guest(&mut caller, ptr, take, usize::MAX, "log")?;
    let line = String::from_utf8_lossy(&raw).into_owned();
    caller.data_mut().logs.push((level, line));
    Ok(())
}

/// Guest memory of the calling instance.
fn guest_memory(caller: &mut Caller<'_, State>) -> wasmtime::Result<wasmtime::Memory> {
    caller
        .get_export("memory")
        .and_then(|e| e.into_memory())
        .ok_or_else(|| protocol("no memory export"))
}

/// Copy `len` bytes at `ptr` out of guest memory.
fn read_guest(
    caller: &mut Caller<'_, State>,
    ptr: i32,
    len: i32,
    max: usize,
    what: &str,
) -> wasmtime::Result<Vec<u8>> {
    let mem = guest_memory(caller)?;
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    if len > max {
        return Err(protocol(format!(
            "{what}: {len} bytes is over the {max}-byte limit"
        )));
    }
    mem.data(&*caller)
        .get(ptr..ptr + len)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| protocol(format!("{what}: pointer out of bounds")))
}

/// Place `data` in guest memory via the guest's own allocator; returns the
/// packed (ptr << 32 | len) the ABI uses.
fn give_guest(caller: &mut Caller<'_, State>, data: &[u8]) -> wasmtime::Result<i64> {
    let alloc = caller
        .get_export("gsec_alloc")
        .and_then(|e| e.into_func())
        .ok_or_else(|| protocol("no gsec_alloc export"))?
        .typed::<i32, i32>(&*caller)?;
    let len = i32::try_from(data.len()).map_err(|_| protocol("host response too large"))?;
    let ptr = alloc.call(&mut *caller, len)?;
    guest_memory(caller)?
        .write(&mut *caller, ptr as u32 as usize, data)
        .map_err(|_| protocol("gsec_alloc returned an out-of-bounds pointer"))?;
    Ok(((ptr as u32 as u64) << 32 | len as u32 as u64) as i64)
}
