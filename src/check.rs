//! Is an environment ready to deploy? Encore's "the compiler checks
//! secrets are set", for any language.
//!
//! Presence is checked without decrypting (key names and empty values are
//! visible in sops files), so a missing secret is reported even in an
//! environment the caller cannot read; decryptability is checked
//! separately and reported as its own problem.

use crate::config::LOCAL_FILE_NAME;
use crate::envs::{self, LOCAL_ENV};
use crate::error::Result;
use crate::project::Project;
use crate::render;

/// One thing that is not ready.
#[derive(Debug, serde::Serialize)]
pub struct Problem {
    pub environment: Option<String>,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
}

pub fn problems(project: &Project, envs: &[String]) -> Result<Vec<Problem>> {
    let cfg = &project.config;
    let mut out = Vec::new();
    // Every file is read once, without decrypting; the recipients check
    // below reuses what was read.
    let mut names_in: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut peeked: std::collections::HashMap<String, crate::vault::Peek> = Default::default();
    for env in cfg.environments.keys() {
        let path = project.env_file(env);
        match crate::vault::peek(&path) {
            Ok(p) => {
                names_in.insert(
                    env.clone(),
                    p.as_ref().map(|p| p.present_names()).unwrap_or_default(),
                );
                if let Some(p) = p {
                    peeked.insert(env.clone(), p);
                }
            }
            Err(e) => {
                names_in.insert(env.clone(), vec![]);
                if envs.contains(env) {
                    out.push(Problem {
                        environment: Some(env.clone()),
                        kind: "unreadable",
                        secret: None,
                        file: Some(project.rel(&path).into_owned()),
                        line: None,
                        message: e.to_string(),
                    });
                }
            }
        }
    }
    // Sealed inbox values count as set, without decrypting them; an entry
    // sealed to recipients the environment no longer has is a problem.
    for env in cfg.environments.keys() {
        let listed = match crate::inbox::entries(project, env) {
            Ok(l) => l,
            Err(e) => {
                if envs.contains(env) {
                    out.push(Problem {
                        environment: Some(env.clone()),
                        kind: "inbox",
                        secret: None,
                        file: Some(project.rel(&crate::inbox::dir(project, env)).into_owned()),
                        line: None,
                        message: e.to_string(),
                    });
                }
                continue;
            }
        };
        for (path, entry) in listed {
            if envs.contains(env) && crate::inbox::is_stale(project, &entry)? {
                out.push(Problem {
                    environment: Some(env.clone()),
                    kind: "inbox-stale",
                    secret: Some(entry.name.clone()),
                    file: Some(project.rel(&path).into_owned()),
                    line: None,
                    message: format!(
                        "sealed value of {} was sealed to recipients {env} no longer has (or lacks some it has now); a recipient should run `gsec inbox merge --env {env}`, or set it again",
                        entry.name
                    ),
                });
            }
            names_in.entry(env.clone()).or_default().push(entry.name);
        }
    }
    let local: Vec<String> = envs::load_local(&project.root.join(LOCAL_FILE_NAME))?
        .unwrap_or_default()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    // Leases have no stored value: ready when their plugin is there (file
    // present, pin matching) and their root credentials are set.
    for (name, lease) in crate::lease::declared(project) {
        let Some(decl) = cfg.plugins.get(&lease.plugin) else {
            continue; // refused when the configuration was loaded
        };
        let problem = match crate::plugin::pin_status(&project.root, decl) {
            crate::plugin::Pin::Unreadable(e) => Some(format!("cannot read {}: {e}", decl.path)),
            crate::plugin::Pin::Mismatch => Some(format!(
                "{} does not match its pin plugins.{}.sha256",
                decl.path, lease.plugin
            )),
            crate::plugin::Pin::Ok => None,
        };
        if let Some(p) = problem {
            out.push(Problem {
                environment: None,
                kind: "lease",
                secret: Some(name.clone()),
                file: Some(decl.path.clone()),
                line: None,
                message: format!(
                    "lease {name} cannot be minted: its plugin '{}': {p}",
                    lease.plugin
                ),
            });
        }
    }
    let present = |env: &str, name: &str| {
        let has = |names: &[String]| names.iter().any(|n| n.eq_ignore_ascii_case(name));
        (env == LOCAL_ENV && has(&local))
            || cfg
                .chain(env)
                .iter()
                .any(|e| names_in.get(e).is_some_and(|n| has(n)))
    };
    for env in envs {
        let path = project.env_file(env);
        let rel = project.rel(&path).into_owned();
        // Required secrets, after inheritance.
        for (name, decl) in &cfg.secrets {
            if !decl.required.applies_to(env) {
                continue;
            }
            if let Some(lease) = &decl.lease {
                for root in lease.inputs.iter().filter(|r| !present(env, r)) {
                    out.push(Problem {
                        environment: Some(env.clone()),
                        kind: "lease",
                        secret: Some(name.clone()),
                        file: Some(rel.clone()),
                        line: None,
                        message: format!(
                            "lease {name} cannot be minted in {env}: its root credential {root} has no value; set it with `gsec set {root} --env {env}`"
                        ),
                    });
                }
                continue;
            }
            let found = present(env, name);
            if !found {
                out.push(Problem {
                    environment: Some(env.clone()),
                    kind: "missing",
                    secret: Some(name.clone()),
                    file: Some(rel.clone()),
                    line: None,
                    message: format!(
                        "required secret {name} has no value in {env}{}; set it with `gsec set {name} --env {env}`",
                        decl.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
                    ),
                });
            }
        }
        if !path.exists() {
            continue;
        }
        // Values committed in plaintext (sops' partial-encryption settings
        // or a hand edit): gsec never writes one, so each is a leak.
        if let Some(p) = peeked.get(env) {
            for at in p.unencrypted_paths() {
                out.push(Problem {
                    environment: Some(env.clone()),
                    kind: "unencrypted",
                    secret: Some(at.clone()),
                    file: Some(rel.clone()),
                    line: None,
                    message: format!(
                        "the value of {at} is stored unencrypted in {rel}: it is in git in plaintext; rotate it, then store it with `gsec set {at} --env {env}` under a name the file encrypts"
                    ),
                });
            }
        }
        // Recipients as configured?
        let wanted: Vec<String> = cfg
            .recipients_for(env)?
            .iter()
            .map(|r| r.canonical())
            .collect();
        if let Some(have) = peeked.get(env).map(|p| p.recipients()) {
            use crate::keys::same_recipient;
            let missing: Vec<&String> = wanted
                .iter()
                .filter(|w| !have.iter().any(|h| same_recipient(h, w)))
                .collect();
            let extra: Vec<&String> = have
                .iter()
                .filter(|h| !wanted.iter().any(|w| same_recipient(h, w)))
                .collect();
            if !missing.is_empty() || !extra.is_empty() {
                let short = |v: Vec<&String>| {
                    v.iter()
                        .map(|r| crate::keys::short_recipient(r))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                out.push(Problem {
                    environment: Some(env.clone()),
                    kind: "recipients",
                    secret: None,
                    file: Some(rel.clone()),
                    line: None,
                    message: format!(
                        "recipients differ from .gsec.yaml (missing: [{}], not configured: [{}]); run `gsec updatekeys`",
                        short(missing),
                        short(extra)
                    ),
                });
            }
        }
        // Decrypts and verifies for the current identity? (A file that
        // could not even be read was reported above, once.)
        if peeked.contains_key(env)
            && let Err(e) = project.open(env)
        {
            out.push(Problem {
                environment: Some(env.clone()),
                kind: "undecryptable",
                secret: None,
                file: Some(rel.clone()),
                line: None,
                message: e.to_string(),
            });
        }
    }
    // Services: grants that name no secret, stale derived files.
    out.extend(crate::services::problems(project, envs)?);
    // Template placeholders must name a known secret.
    for t in &cfg.templates {
        let p = project.root.join(t);
        let text = match crate::render::read_template(&p) {
            Ok(t) => t,
            Err(e) => {
                out.push(Problem {
                    environment: None,
                    kind: "template",
                    secret: None,
                    file: Some(t.clone()),
                    line: None,
                    message: format!("cannot read template: {e}"),
                });
                continue;
            }
        };
        for ph in render::placeholders(&text) {
            let known = cfg.secret(&ph.name).is_some()
                || local.iter().any(|n| n.eq_ignore_ascii_case(&ph.name))
                || names_in
                    .values()
                    .any(|n| n.iter().any(|n| n.eq_ignore_ascii_case(&ph.name)));
            if !known {
                out.push(Problem {
                    environment: None,
                    kind: "template",
                    secret: Some(ph.name.clone()),
                    file: Some(t.clone()),
                    line: Some(ph.line),
                    message: format!(
                        "{t}:{}: placeholder names unknown secret '{}'",
                        ph.line, ph.name
                    ),
                });
            }
        }
    }
    Ok(out)
}
