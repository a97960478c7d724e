//! Reading secrets named by `*_env` / `*_file` keys. Errors name the key and the variable or file,
//! never the value.

use std::path::PathBuf;

use super::error::SinkError;

/// The secret named by `<key>.<field>_env` or `<key>.<field>_file`; `None` when neither is set.
/// Surrounding whitespace (a file's trailing newline) is trimmed; an empty secret is an error.
pub fn read_secret(
    key: &str,
    field: &str,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<String>, SinkError> {
    let (value, key) = match (env, file) {
        (Some(var), _) => {
            let key = format!("{key}.{field}_env");
            match std::env::var(var) {
                Ok(v) => (v, key),
                Err(std::env::VarError::NotPresent) => {
                    return Err(SinkError::Config { key, problem: format!("environment variable {var} is not set") })
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(SinkError::Config { key, problem: format!("environment variable {var} is not UTF-8") })
                }
            }
        }
        (None, Some(path)) => {
            let key = format!("{key}.{field}_file");
            match std::fs::read_to_string(path) {
                Ok(v) => (v, key),
                Err(e) => {
                    return Err(SinkError::Config {
                        key,
                        problem: format!("cannot read {}: {}", path.display(), e.kind()),
                    })
                }
            }
        }
        (None, None) => return Ok(None),
    };
    let v = value.trim();
    if v.is_empty() {
        return Err(SinkError::Config { key, problem: "the secret is empty".into() });
    }
    Ok(Some(v.to_string()))
}

/// A secret that must be there.
pub fn require_secret(
    key: &str,
    field: &str,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<String, SinkError> {
    read_secret(key, field, env, file)?
        .ok_or_else(|| SinkError::Config { key: format!("{key}.{field}_env"), problem: "not set".into() })
}

/// A webhook URL secret, checked to be http(s) without echoing it.
pub fn require_url(key: &str, field: &str, env: &Option<String>, file: &Option<PathBuf>) -> Result<String, SinkError> {
    let url = require_secret(key, field, env, file)?;
    match reqwest::Url::parse(&url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(url),
        _ => Err(SinkError::Config {
            key: format!("{key}.{field}_{}", if env.is_some() { "env" } else { "file" }),
            problem: "the secret is not an http(s) URL".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secrets_are_trimmed_and_errors_never_show_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "not-a-url-but-secret\n").unwrap();
        assert_eq!(
            read_secret("k", "secret", &None, &Some(p.clone())).unwrap().as_deref(),
            Some("not-a-url-but-secret")
        );
        let err = require_url("alerting.slack[0]", "webhook_url", &None, &Some(p)).unwrap_err().to_string();
        assert!(
            err.starts_with("alerting.slack[0].webhook_url_file") && !err.contains("not-a-url-but-secret"),
            "{err}"
        );
        let err =
            read_secret("k", "secret", &Some("ANOMALY_DETECTOR_TEST_SURELY_UNSET_VAR".into()), &None).unwrap_err();
        assert!(err.to_string().contains("is not set"), "{err}");
    }
}
