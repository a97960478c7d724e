//! Loading: defaults, then the TOML file, then `ANOMALY_DETECTOR__SECTION__KEY` variables.

use std::path::Path;

use super::Config;

/// A configuration that cannot be used. The message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("{key}: {problem}")]
    Invalid { key: String, problem: String },
}

/// Environment variable prefix; sections and keys are separated by `__`.
pub const ENV_PREFIX: &str = "ANOMALY_DETECTOR";

/// Keys whose environment value is a list: comma-separated (`a,b`), or a JSON array of strings
/// (`["a{1,2}", "b"]`) for entries that contain commas, such as regular expressions.
const LIST_KEYS: &[&str] = &[
    "features.columns",
    "source.paths",
    "rules.disabled",
    "suppress.endpoints",
    "suppress.clients",
    "redaction.patterns",
    "patterns.service_labels",
];

/// Keys whose value is a table or an array of tables: from the environment, JSON
/// (`ANOMALY_DETECTOR__ALERTING__SLACK='[{"webhook_url_env": "SLACK_URL"}]'`).
const TABLE_KEYS: &[&str] = &[
    "alerting.slack",
    "alerting.discord",
    "alerting.webhook",
    "alerting.email",
    "alerting.alertmanager",
    "rules.custom",
    "suppress.maintenance",
    "parse.fields",
];

/// Removes `key`'s variable from `vars` and reads it as JSON of type `T` (`what` it must be).
fn take_json<T: serde::de::DeserializeOwned>(
    vars: &mut std::collections::HashMap<String, String>,
    key: &str,
    what: &str,
) -> Result<T, ConfigError> {
    let var = env_var_name(key);
    let value = vars.remove(&var).unwrap_or_default();
    serde_json::from_str(&value)
        .map_err(|e| ConfigError::Invalid { key: key.to_string(), problem: format!("{var} must be {what}: {e}") })
}

/// A JSON value as the config crate's value (numbers stay integers where they are).
fn to_config_value(v: serde_json::Value) -> config::Value {
    use config::{Value, ValueKind};
    let kind = match v {
        serde_json::Value::Null => ValueKind::Nil,
        serde_json::Value::Bool(b) => ValueKind::Boolean(b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => ValueKind::I64(i),
            (None, Some(u), _) => ValueKind::U64(u),
            (_, _, f) => ValueKind::Float(f.unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => ValueKind::String(s),
        serde_json::Value::Array(a) => ValueKind::Array(a.into_iter().map(to_config_value).collect()),
        serde_json::Value::Object(o) => ValueKind::Table(o.into_iter().map(|(k, v)| (k, to_config_value(v))).collect()),
    };
    Value::new(None, kind)
}

/// Load the configuration: built-in defaults, the file (if given), then the environment.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    load_layered(None, path, None)
}

/// Like [`load`], with a built-in TOML layer under the file (the `demo` command's settings).
pub fn load_with_base(base: &str, path: Option<&Path>) -> Result<Config, ConfigError> {
    load_layered(Some(base), path, None)
}

/// Like [`load`], with the environment given explicitly (for tests); `None` reads the process's.
pub fn load_with_env(
    path: Option<&Path>,
    env: Option<std::collections::HashMap<String, String>>,
) -> Result<Config, ConfigError> {
    load_layered(None, path, env)
}

fn load_layered(
    base: Option<&str>,
    path: Option<&Path>,
    env: Option<std::collections::HashMap<String, String>>,
) -> Result<Config, ConfigError> {
    let shown = path.map(|p| p.display().to_string()).unwrap_or_else(|| "(defaults)".into());
    let mut builder = config::Config::builder();
    if let Some(b) = base {
        builder = builder.add_source(config::File::from_str(b, config::FileFormat::Toml));
    }
    if let Some(p) = path {
        if !p.exists() {
            return Err(ConfigError::File { path: shown, message: "no such file".into() });
        }
        reject_env_only_keys(p, &shown)?;
        builder = builder.add_source(config::File::from(p).format(config::FileFormat::Toml).required(true));
    }
    let mut vars: std::collections::HashMap<String, String> = env.unwrap_or_else(|| std::env::vars().collect());
    let set_vars: Vec<String> = vars.keys().filter(|k| k.starts_with(ENV_PREFIX)).cloned().collect();
    // Variables holding JSON are taken whole, as overrides: a list given as a JSON array (the comma
    // split would cut `a{1,2}`), and tables and arrays of tables (`[[alerting.slack]]`, …).
    let mut overrides = Vec::new();
    for key in LIST_KEYS {
        if vars.get(&env_var_name(key)).is_some_and(|v| v.trim_start().starts_with('[')) {
            let list: Vec<String> = take_json(&mut vars, key, "a JSON array of strings")?;
            overrides.push((*key, serde_json::Value::from(list)));
        }
    }
    for key in TABLE_KEYS {
        if vars.contains_key(&env_var_name(key)) {
            let value = take_json(&mut vars, key, "JSON (an array of objects or an object, as in the TOML file)")?;
            overrides.push((*key, value));
        }
    }
    let mut environment =
        config::Environment::with_prefix(ENV_PREFIX).separator("__").try_parsing(true).list_separator(",");
    for key in LIST_KEYS {
        environment = environment.with_list_parse_key(key);
    }
    environment = environment.source(Some(vars));
    builder = builder.add_source(environment);
    for (key, value) in overrides {
        builder = builder
            .set_override(key, to_config_value(value))
            .map_err(|e| ConfigError::Invalid { key: key.to_string(), problem: e.to_string() })?;
    }
    let built = builder.build().map_err(|e| ConfigError::File { path: shown.clone(), message: e.to_string() })?;
    let cfg: Config = built.try_deserialize().map_err(|e| blame(e.to_string(), &set_vars, shown))?;
    cfg.validate()?;
    Ok(cfg)
}

/// A value that does not fit its key: named by the environment variable that set it, when one did,
/// else by the file.
fn blame(message: String, set_vars: &[String], file: String) -> ConfigError {
    let key = message.split('`').nth(1).filter(|k| !k.is_empty() && !k.contains(' '));
    if let Some(key) = key {
        let var = env_var_name(key);
        if set_vars.contains(&var) {
            return ConfigError::Invalid { key: var, problem: message };
        }
    }
    ConfigError::File { path: file, message }
}

/// The environment variable that sets `key` (`suppress.clients` → `ANOMALY_DETECTOR__SUPPRESS__CLIENTS`).
pub fn env_var_name(key: &str) -> String {
    format!("{ENV_PREFIX}__{}", key.replace('.', "__").to_ascii_uppercase())
}

/// A secret in [`super::ENV_ONLY_KEYS`] written in the file is refused (the error names the key, not
/// the value): it would sit in a file that is often committed or shared.
fn reject_env_only_keys(path: &Path, shown: &str) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::File { path: shown.to_string(), message: e.to_string() })?;
    // A file that does not parse is reported by the loader below, with its position.
    let Ok(table) = text.parse::<toml::Table>() else { return Ok(()) };
    for key in super::ENV_ONLY_KEYS {
        let (section, field) = key.split_once('.').expect("section.key");
        if table.get(section).and_then(|s| s.get(field)).is_some() {
            let variable = env_var_name(key);
            return Err(ConfigError::Invalid {
                key: key.to_string(),
                problem: format!("is a secret: set {variable} or {key}_file, never the value in the config file"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn shipped_default_toml_equals_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let cfg = load_with_env(Some(&path), Some(HashMap::new())).expect("config/default.toml loads");
        assert_eq!(cfg, Config::default(), "config/default.toml must document the built-in defaults exactly");
    }

    #[test]
    fn environment_overrides_reach_the_config() {
        let env = HashMap::from([
            ("ANOMALY_DETECTOR__DETECTION__ANOMALY_THRESHOLD".to_string(), "0.01".to_string()),
            ("ANOMALY_DETECTOR__DETECTION__INTERVAL_SECS".to_string(), "30".to_string()),
            ("ANOMALY_DETECTOR__SERVER__LISTEN".to_string(), "0.0.0.0:9797".to_string()),
            ("ANOMALY_DETECTOR__SOURCE__KIND".to_string(), "demo".to_string()),
            ("ANOMALY_DETECTOR__FEATURES__COLUMNS".to_string(), "response_time,status".to_string()),
        ]);
        let cfg = load_with_env(None, Some(env)).expect("valid overrides");
        assert_eq!(cfg.detection.anomaly_threshold, 0.01);
        assert_eq!(cfg.detection.interval_secs, 30);
        assert_eq!(cfg.server.listen, "0.0.0.0:9797");
        assert_eq!(cfg.source.kind, crate::config::SourceKind::Demo);
        assert_eq!(cfg.features.columns, vec!["response_time".to_string(), "status".to_string()]);
    }

    #[test]
    fn invalid_values_name_their_key() {
        let env = HashMap::from([("ANOMALY_DETECTOR__DETECTION__ANOMALY_THRESHOLD".to_string(), "0.9".to_string())]);
        let err = load_with_env(None, Some(env)).unwrap_err().to_string();
        assert!(err.contains("detection.anomaly_threshold"), "{err}");
    }

    fn env_err(pairs: &[(&str, &str)]) -> String {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load_with_env(None, Some(env)).unwrap_err().to_string()
    }

    #[test]
    fn empty_list_entries_are_rejected_with_their_key() {
        // The bug: SUPPRESS__CLIENTS= matched every client and switched all detection off.
        for (var, key) in [
            ("ANOMALY_DETECTOR__SUPPRESS__CLIENTS", "suppress.clients[0]"),
            ("ANOMALY_DETECTOR__SUPPRESS__ENDPOINTS", "suppress.endpoints[0]"),
            ("ANOMALY_DETECTOR__RULES__DISABLED", "rules.disabled[0]"),
        ] {
            let err = env_err(&[(var, "")]);
            assert!(err.starts_with(key), "{var}= gave {err}");
        }
        assert!(
            env_err(&[("ANOMALY_DETECTOR__SUPPRESS__CLIENTS", "10.0.,,192.168.")]).starts_with("suppress.clients[1]")
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[suppress]\nclients = [\"\"]\n").unwrap();
        let err = load_with_env(Some(&p), Some(HashMap::new())).unwrap_err().to_string();
        assert!(err.starts_with("suppress.clients[0]"), "{err}");
        let empty = HashMap::from([("ANOMALY_DETECTOR__SUPPRESS__CLIENTS".to_string(), "[]".to_string())]);
        assert!(load_with_env(None, Some(empty)).unwrap().suppress.clients.is_empty());
    }

    #[test]
    fn list_variables_take_json_arrays_so_regexes_keep_their_commas() {
        let env = HashMap::from([
            ("ANOMALY_DETECTOR__REDACTION__PATTERNS".to_string(), r#"["a{1,2}b", "x+"]"#.to_string()),
            ("ANOMALY_DETECTOR__SUPPRESS__ENDPOINTS".to_string(), r#"["^GET /a{1,3}$"]"#.to_string()),
            ("ANOMALY_DETECTOR__SUPPRESS__CLIENTS".to_string(), "10.0.,192.168.".to_string()),
        ]);
        let cfg = load_with_env(None, Some(env)).expect("valid lists");
        assert_eq!(cfg.redaction.patterns, vec!["a{1,2}b".to_string(), "x+".to_string()]);
        assert_eq!(cfg.suppress.endpoints, vec!["^GET /a{1,3}$".to_string()]);
        assert_eq!(cfg.suppress.clients, vec!["10.0.".to_string(), "192.168.".to_string()]);
        let err = env_err(&[("ANOMALY_DETECTOR__REDACTION__PATTERNS", "[not json")]);
        assert!(err.starts_with("redaction.patterns"), "{err}");
    }

    #[test]
    fn tables_and_arrays_of_tables_come_from_the_environment_as_json() {
        let env = HashMap::from([
            (
                "ANOMALY_DETECTOR__ALERTING__WEBHOOK".to_string(),
                r#"[{"name": "ops", "url_env": "OPS_HOOK", "min_severity": "high"}]"#.to_string(),
            ),
            (
                "ANOMALY_DETECTOR__RULES__CUSTOM".to_string(),
                r#"[{"name": "admin", "field": "path", "pattern": "^/admin{1,2}"}]"#.to_string(),
            ),
            (
                "ANOMALY_DETECTOR__SUPPRESS__MAINTENANCE".to_string(),
                r#"[{"from": "02:00", "to": "04:00", "days": ["sun"]}]"#.to_string(),
            ),
            ("ANOMALY_DETECTOR__PARSE__FIELDS".to_string(), r#"{"response_time_ms": "dur_ms"}"#.to_string()),
        ]);
        let cfg = load_with_env(None, Some(env)).expect("valid tables");
        assert_eq!(cfg.alerting.webhook.len(), 1);
        assert_eq!(cfg.alerting.webhook[0].url_env.as_deref(), Some("OPS_HOOK"));
        assert_eq!(cfg.rules.custom[0].pattern, "^/admin{1,2}");
        assert_eq!(cfg.suppress.maintenance[0].days, vec!["sun".to_string()]);
        assert_eq!(cfg.parse.fields.get("response_time_ms").map(String::as_str), Some("dur_ms"));
        let err = env_err(&[("ANOMALY_DETECTOR__ALERTING__SLACK", "not json")]);
        assert!(err.starts_with("alerting.slack"), "{err}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_variable() {
        let err = env_err(&[("ANOMALY_DETECTOR__DETECTION__INTERVAL_SECS", "soon")]);
        assert!(err.starts_with("ANOMALY_DETECTOR__DETECTION__INTERVAL_SECS"), "{err}");
    }

    #[test]
    fn unknown_rule_names_are_rejected() {
        let err = env_err(&[("ANOMALY_DETECTOR__RULES__DISABLED", "sql_injection,no_such_rule")]);
        assert!(err.starts_with("rules.disabled[1]") && err.contains("no_such_rule"), "{err}");
        let env = HashMap::from([("ANOMALY_DETECTOR__RULES__DISABLED".to_string(), "error_scanning".to_string())]);
        assert_eq!(load_with_env(None, Some(env)).unwrap().rules.disabled, vec!["error_scanning".to_string()]);
    }

    #[test]
    fn tokens_come_from_the_environment_never_from_the_file() {
        let env = HashMap::from([("ANOMALY_DETECTOR__SERVER__API_TOKEN".to_string(), "from-env".to_string())]);
        let cfg = load_with_env(None, Some(env)).expect("a token from the environment");
        assert_eq!(cfg.server.api_token().unwrap().as_deref(), Some("from-env"));

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[server]\napi_token = \"in-the-file\"\n").unwrap();
        let err = load_with_env(Some(&p), Some(HashMap::new())).unwrap_err().to_string();
        assert!(err.starts_with("server.api_token: is a secret") && !err.contains("in-the-file"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[detection]\ninterval_sec = 5\n").unwrap();
        let err = load_with_env(Some(&p), Some(HashMap::new())).unwrap_err().to_string();
        assert!(err.contains("interval_sec"), "{err}");
    }
}
