use gsec_plugin_sdk::{
    Created, Error, Info, Plugin, Request, Result, Value, export_plugin, http, json, log,
};

struct Hello;

/// Base URL from config, so tests and self-hosted installs can point elsewhere.
fn api(req: &Request) -> Result<String> {
    Ok(req
        .config_str_opt("api_url")?
        .unwrap_or("https://api.hello.example")
        .trim_end_matches('/')
        .to_string())
}

impl Plugin for Hello {
    fn info() -> Info {
        Info::new("hello", env!("CARGO_PKG_VERSION"))
            .description("API tokens for hello.example")
            // api_url is configurable, so "*": the user's grant list decides.
            .hosts(&["api.hello.example", "*"])
            .config_schema(json!({
                "type": "object",
                "properties": {"api_url": {"type": "string"}, "scope": {"type": "string"}},
            }))
    }

    fn create(req: &Request) -> Result<Created> {
        // The admin key that may mint tokens comes in through rotation.inputs.
        let admin = req.input("HELLO_ADMIN_KEY")?;
        let auth = format!("Bearer {admin}");
        let body = json!({"scope": req.config_str_opt("scope")?.unwrap_or("read")});
        let resp = http::post(
            &format!("{}/tokens", api(req)?),
            &[("authorization", &auth)],
            body.to_string().as_bytes(),
        )?
        .error_for_status()?;
        let v: Value = resp.json()?;
        let token = v["token"].as_str().ok_or("response has no token")?;
        let id = v["id"].as_str().ok_or("response has no id")?;
        log::info(&format!("created token {id}")); // the id, never the token
        Ok(Created::new(token).id(id))
    }

    fn verify(req: &Request) -> Result<()> {
        let token = req.value.as_deref().ok_or("no value to verify")?;
        let auth = format!("Bearer {token}");
        http::get(
            &format!("{}/whoami", api(req)?),
            &[("authorization", &auth)],
        )?
        .error_for_status()?;
        Ok(())
    }

    fn revoke(req: &Request) -> Result<()> {
        let Some(id) = req.id.as_deref() else {
            return Ok(());
        }; // nothing to retire
        let admin = req.input("HELLO_ADMIN_KEY")?;
        let auth = format!("Bearer {admin}");
        let resp = http::delete(
            &format!("{}/tokens/{id}", api(req)?),
            &[("authorization", &auth)],
        )?;
        match resp.status {
            200..=299 | 404 => Ok(()), // already gone counts as revoked
            s => Err(Error::new(format!("revoking token {id}: HTTP {s}"))),
        }
    }
}

export_plugin!(Hello);
