//! The `sync` step for GitHub Actions secrets, written from GitHub's REST
//! reference ("REST API endpoints for GitHub Actions Secrets" and "…
//! Variables", API version 2022-11-28).
//!
//! Each gsec secret becomes the Actions secret of the same name in
//! `config.repo`, or in its deployment environment `config.environment`
//! (`/repos/O/R/environments/E/secrets`). An Actions secret holds nothing
//! but its sealed value and cannot be read back, so gsec's keyed
//! fingerprints live in one Actions **variable** beside them
//! (`config.fingerprints_variable`, default `GSEC_SYNC_FINGERPRINTS`): a
//! JSON object `{"NAME": "v1:…"}`. Variables are readable by anyone who can
//! read the repository; that is acceptable only because the fingerprints
//! are HMACs under a key that never leaves gsec.
//!
//! - `list`: `GET …/secrets?per_page=100&page=N` until every page is read,
//!   each name with its fingerprint from the variable (none: gsec did not
//!   write it, so it is never pruned).
//! - `put`: the value sealed to `GET …/secrets/public-key` (libsodium
//!   sealed box), `PUT …/secrets/NAME` (201 created, 204 updated), then
//!   the variable updated (`PATCH`, or `POST` when it does not exist yet).
//!   The value goes first: a crash between the two leaves the old
//!   fingerprint, so the next sync sends the value again and converges.
//! - `delete`: `DELETE …/secrets/NAME` (already gone is success), then the
//!   name's entry dropped from the variable.
//!
//! GitHub keeps secret names in upper case and refuses names starting with
//! `GITHUB_`: such names are refused by `put` with the reason rather than
//! synced under a name gsec would not find again.

use gsec_plugin_sdk::http::Response;
use gsec_plugin_sdk::retry::Policy;
use gsec_plugin_sdk::sync::{Action, Entry, Outcome, Sync, Synced};
use gsec_plugin_sdk::{Error, Request, Result, Value, json, serde_json};
use serde::Deserialize;

use crate::{Api, bearer, hint, sealed_body, valid_secret_name};

const DEFAULT_VARIABLE: &str = "GSEC_SYNC_FINGERPRINTS";

/// Where the secrets and the fingerprint variable live.
struct Target<'a> {
    api: Api<'a>,
    auth: String,
    /// `/repos/O/R/actions/secrets` or `/repos/O/R/environments/E/secrets`.
    secrets: String,
    /// The same for variables.
    variables: String,
    variable: String,
}

/// Percent-encode a path segment (environment names may hold spaces).
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl<'a> Target<'a> {
    fn new(req: &'a Request) -> Result<Target<'a>> {
        let api = Api::new(req)?;
        let repo = api.repo()?;
        let auth = bearer(api.token()?);
        let (secrets, variables) = match req.config_str_opt("environment")? {
            None => (
                format!("/repos/{repo}/actions/secrets"),
                format!("/repos/{repo}/actions/variables"),
            ),
            Some(e) if e.is_empty() || e.len() > 255 || e.chars().any(char::is_control) => {
                return Err(Error::new(
                    "config.environment must be a GitHub environment name (1 to 255 printable characters)",
                ));
            }
            Some(e) => {
                let base = format!("/repos/{repo}/environments/{}", segment(e));
                (format!("{base}/secrets"), format!("{base}/variables"))
            }
        };
        let variable = req
            .config_str_opt("fingerprints_variable")?
            .unwrap_or(DEFAULT_VARIABLE)
            .to_string();
        if !valid_secret_name(&variable) {
            return Err(Error::new(
                "config.fingerprints_variable must be letters, digits and '_', not starting with a digit or GITHUB_",
            ));
        }
        Ok(Target {
            api,
            auth,
            secrets,
            variables,
            variable,
        })
    }

    /// One request, retried on 5xx and 429 (every call here is safe to
    /// repeat: `PUT`/`PATCH`/`DELETE` are idempotent, a repeated `POST`
    /// of the variable answers 409 and falls back to `PATCH`).
    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Response> {
        Policy::default().run(|| self.api.call(method, path, &self.auth, body))
    }

    fn fail(&self, method: &str, path: &str, r: &Response) -> Error {
        let text = format!("{method} {path}: HTTP {}{}", r.status, hint(r.status));
        if r.is_transient() {
            Error::retry(text)
        } else {
            Error::new(text)
        }
    }

    /// The fingerprint variable: `None` when it does not exist yet.
    fn fingerprints(&self) -> Result<Option<serde_json::Map<String, Value>>> {
        let path = format!("{}/{}", self.variables, self.variable);
        let r = self.send("GET", &path, None)?;
        if r.status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&r.status) {
            return Err(self.fail("GET", &path, &r));
        }
        #[derive(Deserialize)]
        struct Variable {
            value: String,
        }
        let v: Variable = r.json()?;
        match serde_json::from_str::<Value>(&v.value) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            _ => Err(Error::new(format!(
                "the Actions variable {} is not a JSON object of names to fingerprints; delete it and run gsec sync again (every value is then sent once)",
                self.variable
            ))),
        }
    }

    /// Write the fingerprint variable (`existed`: PATCH, else POST).
    fn store(&self, map: serde_json::Map<String, Value>, existed: bool) -> Result<()> {
        let body = json!({"name": self.variable, "value": Value::Object(map).to_string()});
        let one = format!("{}/{}", self.variables, self.variable);
        if !existed {
            let r = self.send("POST", &self.variables, Some(&body))?;
            match r.status {
                200..=299 => return Ok(()),
                409 => {} // made since we read it: update it instead
                _ => return Err(self.fail("POST", &self.variables, &r)),
            }
        }
        let r = self.send("PATCH", &one, Some(&body))?;
        if (200..300).contains(&r.status) {
            Ok(())
        } else {
            Err(self.fail("PATCH", &one, &r))
        }
    }
}

fn list(t: &Target) -> Result<Vec<Entry>> {
    #[derive(Deserialize)]
    struct Page {
        total_count: u64,
        secrets: Vec<Named>,
    }
    #[derive(Deserialize)]
    struct Named {
        name: String,
    }
    let fps = t.fingerprints()?.unwrap_or_default();
    let mut out: Vec<Entry> = Vec::new();
    for page in 1..=1000u32 {
        let path = format!("{}?per_page=100&page={page}", t.secrets);
        let r = t.send("GET", &path, None)?;
        if !(200..300).contains(&r.status) {
            return Err(t.fail("GET", &t.secrets, &r));
        }
        let p: Page = r.json()?;
        let got = p.secrets.len();
        for s in p.secrets {
            if out.iter().any(|e| e.name == s.name) {
                continue; // a secret made meanwhile shifted the pages
            }
            out.push(Entry {
                fingerprint: fps.get(&s.name).and_then(Value::as_str).map(str::to_string),
                name: s.name,
                version: Some(json!("exists")),
            });
        }
        if got == 0 || out.len() as u64 >= p.total_count {
            return Ok(out);
        }
    }
    Err(Error::new(format!(
        "GET {}: more than 1000 pages",
        t.secrets
    )))
}

/// A name GitHub stores unchanged, or the reason it cannot.
fn check_name(name: &str) -> Result<()> {
    if !valid_secret_name(name) {
        return Err(Error::new(format!(
            "{name} cannot be a GitHub Actions secret name (letters, digits and '_', not starting with a digit or GITHUB_)"
        )));
    }
    if name.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(Error::new(format!(
            "{name}: GitHub stores Actions secret names in upper case, so it would come back as {}; rename it",
            name.to_ascii_uppercase()
        )));
    }
    Ok(())
}

fn put(t: &Target, req: &Request, s: &Sync) -> Result<Outcome> {
    let name = s.name()?;
    check_name(name)?;
    let value = req.value.as_deref().ok_or("sync put without a value")?;
    let fp = s
        .fingerprint
        .as_deref()
        .ok_or("sync put without a fingerprint")?;
    let body = sealed_body(&t.api, &t.auth, &t.secrets, value)?;
    let path = format!("{}/{name}", t.secrets);
    let r = t.send("PUT", &path, Some(&body))?;
    if !(200..300).contains(&r.status) {
        return Err(t.fail("PUT", &path, &r));
    }
    let outcome = if r.status == 201 {
        Outcome::Created
    } else {
        Outcome::Updated
    };
    let existing = t.fingerprints()?;
    let existed = existing.is_some();
    let mut map = existing.unwrap_or_default();
    map.insert(name.to_string(), json!(fp));
    t.store(map, existed)?;
    Ok(outcome)
}

fn delete(t: &Target, s: &Sync) -> Result<()> {
    let name = s.name()?;
    let path = format!("{}/{name}", t.secrets);
    let r = t.send("DELETE", &path, None)?;
    if !(200..300).contains(&r.status) && r.status != 404 {
        return Err(t.fail("DELETE", &path, &r));
    }
    // The secret first: a crash here leaves an entry for a name that no
    // longer exists, which `list` never reports.
    if let Some(mut map) = t.fingerprints()?
        && map.remove(name).is_some()
    {
        t.store(map, true)?;
    }
    Ok(())
}

pub fn sync(req: &Request, s: &Sync) -> Result<Synced> {
    let t = Target::new(req)?;
    match s.action {
        Action::List => list(&t).map(Synced::Listed),
        Action::Put => put(&t, req, s).map(Synced::Written),
        Action::Delete => delete(&t, s).map(|()| Synced::Deleted),
    }
}

#[cfg(test)]
mod tests {
    use crate::Github;
    use gsec_plugin_sdk::json;
    use gsec_plugin_sdk::testing::{Harness, reply};

    const API: &str = "https://api.github.com";

    fn req(action: &str, extra: gsec_plugin_sdk::Value) -> gsec_plugin_sdk::Value {
        let mut r = json!({"op": "sync", "action": action,
            "config": {"repo": "acme/app", "environment": "prod eu"},
            "inputs": {"GITHUB_TOKEN": "ghp_test"}});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    }

    #[test]
    fn list_reads_every_page_and_reports_unfingerprinted_names_without_one() {
        let env = format!("{API}/repos/acme/app/environments/prod%20eu");
        let h = Harness::new()
            .expect_with(
                &format!("GET {env}/variables/GSEC_SYNC_FINGERPRINTS"),
                |r| assert_eq!(r.header("authorization"), Some("Bearer ghp_test")),
                reply(200, r#"{"name":"GSEC_SYNC_FINGERPRINTS","value":"{\"A\":\"v1:aa\",\"GONE\":\"v1:cc\"}"}"#),
            )
            .expect(
                &format!("GET {env}/secrets?per_page=100&page=1"),
                reply(200, r#"{"total_count":2,"secrets":[{"name":"A","created_at":"x","updated_at":"x"}]}"#),
            )
            .expect(
                &format!("GET {env}/secrets?per_page=100&page=2"),
                reply(200, r#"{"total_count":2,"secrets":[{"name":"HAND","created_at":"x","updated_at":"x"}]}"#),
            );
        let out = h.call::<Github>(req("list", json!({})));
        h.finish();
        assert_eq!(
            out,
            json!({"entries": [
                {"name": "A", "fingerprint": "v1:aa", "version": "exists"},
                {"name": "HAND", "version": "exists"}
            ]})
        );
    }

    #[test]
    fn put_refuses_names_github_would_not_keep_and_sends_nothing() {
        for (name, why) in [
            ("db_url", "upper case"),
            ("GITHUB_X", "GITHUB_"),
            ("1A", "digit"),
        ] {
            let h = Harness::new();
            let out = h.call::<Github>(req(
                "put",
                json!({"name": name, "value": "s3cret-value", "fingerprint": "v1:aa"}),
            ));
            let e = out["error"].as_str().unwrap();
            assert!(e.contains(name) && e.contains(why), "{e}");
            assert!(!e.contains("s3cret-value"));
            assert!(h.requests().is_empty());
        }
    }

    #[test]
    fn a_fingerprint_variable_that_is_not_a_map_is_an_error_not_an_empty_list() {
        let h = Harness::new().expect(
            &format!(
                "GET {API}/repos/acme/app/environments/prod%20eu/variables/GSEC_SYNC_FINGERPRINTS"
            ),
            reply(200, r#"{"name":"GSEC_SYNC_FINGERPRINTS","value":"oops"}"#),
        );
        let out = h.call::<Github>(req("list", json!({})));
        let e = out["error"].as_str().unwrap();
        assert!(e.contains("not a JSON object"), "{e}");
    }
}
