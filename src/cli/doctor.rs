//! `gsec doctor`: say what works and what does not — identity, config, the
//! pre-commit hook, each environment, plugin pins — each with the reason
//! and the next step. Exit 1 when anything needs attention.

use clap::Args;
use sha2::{Digest, Sha256};

use super::output::outln;
use super::{Ctx, Exit, ListFormat, output};
use crate::error::Result;
use crate::keys;
use crate::project::{self, Project};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Output: human lines or JSON.
    #[arg(long, value_enum, default_value_t)]
    pub format: ListFormat,
}

#[derive(Debug, serde::Serialize)]
struct Item {
    check: String,
    ok: bool,
    detail: String,
}

fn item(check: impl Into<String>, ok: bool, detail: impl Into<String>) -> Item {
    Item {
        check: check.into(),
        ok,
        detail: detail.into(),
    }
}

pub fn run(ctx: &Ctx, a: DoctorArgs) -> Result<Exit> {
    let mut items = Vec::new();
    let discovered = keys::discover(ctx.identity.as_deref());
    if let Ok(ids) = &discovered {
        for s in &ids.skipped {
            items.push(item("identity", false, s.clone()));
        }
    }
    match discovered {
        Ok(ids) if !ids.is_empty() => {
            let found: Vec<String> = ids
                .list
                .iter()
                .map(|i| match (&i.recipient, i.plugin()) {
                    (_, Some(p)) => format!("{} (age plugin: age-plugin-{p})", i.source),
                    (Some(r), None) => {
                        format!("{} ({})", i.source, crate::keys::short_recipient(r))
                    }
                    (None, None) => i.source.clone(),
                })
                .collect();
            items.push(item("identity", true, found.join("; ")));
            // A plugin identity is only as good as its binary on PATH.
            let mut plugins: Vec<&str> = ids.list.iter().filter_map(|i| i.plugin()).collect();
            plugins.sort_unstable();
            plugins.dedup();
            for p in plugins {
                match crate::keys::find_plugin(p) {
                    Ok(()) => items.push(item("age plugin", true, format!("age-plugin-{p} found"))),
                    Err(e) => items.push(item("age plugin", false, e)),
                }
            }
        }
        Ok(ids) => items.push(item(
            "identity",
            false,
            format!(
                "none found (looked in: {}); run `gsec keygen`",
                ids.looked_in()
            ),
        )),
        Err(e) => items.push(item("identity", false, e.to_string())),
    }
    let project = match project::find_root(&ctx.dir) {
        None => {
            items.push(item(
                "config",
                false,
                "no .gsec.yaml up to the git root; run `gsec init`",
            ));
            None
        }
        Some(root) => match Project::load(root, ctx.identity.clone()) {
            Ok(p) => {
                items.push(item("config", true, p.config_path.display().to_string()));
                Some(p)
            }
            Err(e) => {
                items.push(item("config", false, e.to_string()));
                None
            }
        },
    };
    match crate::git::open(&ctx.dir) {
        Err(_) => items.push(item("hook", false, "not in a git repository")),
        Ok(repo) => {
            let dir = crate::git::hooks_dir(&repo);
            let hook = dir.join("pre-commit");
            let installed = std::fs::read_to_string(&hook).is_ok_and(|t| t.contains("gsec"));
            items.push(item(
                "hook",
                installed,
                if installed {
                    format!("{} runs gsec", hook.display())
                } else {
                    format!(
                        "{} does not run gsec; run `gsec hook install`",
                        hook.display()
                    )
                },
            ));
            if let Some(p) = &project {
                items.push(git_drivers(&repo, p));
            }
        }
    }
    if let Some(p) = &project {
        for env in p.config.environments.keys() {
            let file = p.env_file(env);
            let rel = p.rel(&file).into_owned();
            let it = if !file.exists() {
                item(
                    format!("env {env}"),
                    true,
                    format!("{rel} (no secrets yet)"),
                )
            } else {
                match p.open(env) {
                    Ok(Some(v)) => item(
                        format!("env {env}"),
                        true,
                        format!(
                            "{rel}: {} secret{}, decrypts and verifies{}",
                            v.len(),
                            if v.len() == 1 { "" } else { "s" },
                            if v.has_structure_mac() {
                                ""
                            } else {
                                " (values only: no gsec structure MAC, last written by sops or an older gsec; the next gsec write adds one)"
                            }
                        ),
                    ),
                    Ok(None) => item(
                        format!("env {env}"),
                        true,
                        format!("{rel} (no secrets yet)"),
                    ),
                    Err(e) => item(format!("env {env}"), false, e.to_string()),
                }
            };
            items.push(it);
        }
        for (name, decl) in &p.config.plugins {
            let path = p.root.join(&decl.path);
            let it = match crate::plugin::read_wasm(&path) {
                Err(e) => item(
                    format!("plugin {name}"),
                    false,
                    format!("{}: {e}", decl.path),
                ),
                Ok(bytes) => {
                    let actual = hex::encode(Sha256::digest(&bytes));
                    if actual.eq_ignore_ascii_case(&decl.sha256) {
                        item(
                            format!("plugin {name}"),
                            true,
                            format!("{} matches its sha256 pin", decl.path),
                        )
                    } else {
                        item(
                            format!("plugin {name}"),
                            false,
                            format!(
                                "{}: sha256 is {actual}, .gsec.yaml pins {}",
                                decl.path, decl.sha256
                            ),
                        )
                    }
                }
            };
            items.push(it);
        }
    }
    let all_ok = items.iter().all(|i| i.ok);
    match a.format {
        ListFormat::Json => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"ok": all_ok, "checks": items}))
                    .expect("json")
            );
        }
        ListFormat::Human => {
            let good = anstyle::AnsiColor::Green.on_default();
            let bad = anstyle::AnsiColor::Red.on_default().bold();
            let w = items.iter().map(|i| i.check.len()).max().unwrap_or(8);
            for i in &items {
                let (style, mark) = if i.ok { (good, "ok ") } else { (bad, "!! ") };
                output::styled_line(format_args!(
                    "{style}{mark}{style:#} {:w$}  {}",
                    output::escape(&i.check),
                    output::escape(&i.detail)
                ))?;
            }
        }
    }
    Ok(if all_ok { Exit::Ok } else { Exit::Found })
}

/// Are merges and diffs of encrypted files handled by gsec?
fn git_drivers(repo: &gix::Repository, p: &Project) -> Item {
    match crate::gitsetup::status(repo, p) {
        Err(e) => item("git drivers", false, e.to_string()),
        Ok(st) if !st.merge_driver || !st.diff_driver => item(
            "git drivers",
            false,
            "merge.gsec/diff.gsec are not registered in this clone (git would merge encrypted files as text); run `gsec hook install`",
        ),
        Ok(st) if !st.unattributed.is_empty() => item(
            "git drivers",
            false,
            format!(
                "no merge=gsec diff=gsec attributes for {}; run `gsec hook install` and commit .gitattributes",
                st.unattributed.join(", ")
            ),
        ),
        Ok(_) => item(
            "git drivers",
            true,
            "encrypted files merge per key and diff as key names",
        ),
    }
}
