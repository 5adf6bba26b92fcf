//! Where AWS credentials, region and endpoint come from, as the AWS CLI and SDKs look for them.
//!
//! Credentials: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else the
//! shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`), profile
//! `AWS_PROFILE` or `default`. Region: `AWS_REGION`, `AWS_DEFAULT_REGION`, else `region` in the
//! config file (`AWS_CONFIG_FILE`, default `~/.aws/config`, section `[default]` or
//! `[profile NAME]`). Endpoint: `AWS_ENDPOINT_URL_AUTO_SCALING`, `AWS_ENDPOINT_URL`, else
//! `https://autoscaling.{region}.amazonaws.com/`. The environment is passed in as a lookup so
//! tests never touch the process environment.

use std::path::{Path, PathBuf};

use super::sigv4::Credentials;
use crate::{Error, Result};

/// Everything needed to sign and send Auto Scaling requests.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsConfig {
    /// The access key pair (and session token) requests are signed with.
    pub credentials: Credentials,
    /// The region named in the signature's scope and the default endpoint, e.g. `eu-west-1`.
    pub region: String,
    /// Base URL requests are POSTed to (a moto server in tests).
    pub endpoint: String,
}

impl AwsConfig {
    /// Resolves from the process environment and the user's ~/.aws files.
    pub fn from_env() -> Result<Self> {
        Self::resolve(&|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Resolves from `env` (a variable lookup) and the files it points at.
    pub fn resolve(env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let home = env("HOME").map(PathBuf::from);
        let in_home = |rel: &str| home.as_ref().map(|h| h.join(rel));
        let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());

        let credentials = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Credentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: env("AWS_SESSION_TOKEN"),
            },
            (Some(_), None) => {
                return Err(Error::config(
                    "AWS_SECRET_ACCESS_KEY",
                    "is unset while AWS_ACCESS_KEY_ID is set",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::config(
                    "AWS_ACCESS_KEY_ID",
                    "is unset while AWS_SECRET_ACCESS_KEY is set",
                ));
            }
            (None, None) => {
                let path = env("AWS_SHARED_CREDENTIALS_FILE")
                    .map(PathBuf::from)
                    .or_else(|| in_home(".aws/credentials"));
                let path = path.ok_or_else(|| {
                    Error::config(
                        "AWS_ACCESS_KEY_ID",
                        "no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or HOME",
                    )
                })?;
                credentials_from_file(&path, &profile)?
            }
        };

        let region = match env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
            Some(r) => r,
            None => {
                let path = env("AWS_CONFIG_FILE")
                    .map(PathBuf::from)
                    .or_else(|| in_home(".aws/config"));
                let section = if profile == "default" {
                    "default".to_string()
                } else {
                    format!("profile {profile}")
                };
                let from_file = match &path {
                    Some(p) if p.exists() => lookup(&read_ini(p)?, &section, "region"),
                    _ => None,
                };
                from_file.ok_or_else(|| {
                    Error::config(
                        "AWS_REGION",
                        "no region: set AWS_REGION or AWS_DEFAULT_REGION, or region in ~/.aws/config",
                    )
                })?
            }
        };
        if region.is_empty() || !region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::config("AWS_REGION", format!("{region:?} is not a region name")));
        }

        let endpoint = env("AWS_ENDPOINT_URL_AUTO_SCALING")
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://autoscaling.{region}.amazonaws.com/"));
        Ok(AwsConfig {
            credentials,
            region,
            endpoint,
        })
    }
}

fn credentials_from_file(path: &Path, profile: &str) -> Result<Credentials> {
    if !path.exists() {
        return Err(Error::config(
            "AWS_ACCESS_KEY_ID",
            format!(
                "no credentials: AWS_ACCESS_KEY_ID is unset and {} does not exist",
                path.display()
            ),
        ));
    }
    let ini = read_ini(path)?;
    let get = |key: &str| lookup(&ini, profile, key);
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: get("aws_session_token"),
        }),
        _ => Err(Error::data(
            path,
            None,
            format!("profile [{profile}] has no aws_access_key_id and aws_secret_access_key"),
        )),
    }
}

/// (section, key, value) triples of an INI file; keys lower-cased.
type Ini = Vec<(String, String, String)>;

fn read_ini(path: &Path) -> Result<Ini> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_ini(&text).map_err(|(line, msg)| Error::data(path, Some(line), msg))
}

fn parse_ini(text: &str) -> std::result::Result<Ini, (usize, String)> {
    let mut out = vec![];
    let mut section: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or((n + 1, format!("section header {line:?} lacks ']'")))?;
            section = Some(name.trim().to_string());
        } else if let Some((k, v)) = line.split_once('=') {
            // Indented lines continue a nested block (e.g. `s3 =`); SCALE reads only top-level keys.
            if raw.starts_with([' ', '\t']) {
                continue;
            }
            let s = section
                .clone()
                .ok_or((n + 1, format!("key {:?} before any [section]", k.trim())))?;
            out.push((s, k.trim().to_ascii_lowercase(), v.trim().to_string()));
        } else if !raw.starts_with([' ', '\t']) {
            return Err((n + 1, format!("expected `key = value` or [section], found {line:?}")));
        }
    }
    Ok(out)
}

fn lookup(ini: &Ini, section: &str, key: &str) -> Option<String> {
    ini.iter()
        .rev()
        .find(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v.clone())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(vars: &[(&str, &str)]) -> Result<AwsConfig> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AwsConfig::resolve(&|k| m.get(k).cloned())
    }

    #[test]
    fn environment_first_then_files() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        let config = dir.path().join("config");
        std::fs::write(
            &creds,
            "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n[ops]\naws_access_key_id=AKIDOPS\naws_secret_access_key=s2\naws_session_token = t2\n",
        )
        .unwrap();
        std::fs::write(
            &config,
            "[default]\nregion = eu-west-1\n[profile ops]\nregion = ap-south-1\ns3 =\n  max_concurrent_requests = 2\n",
        )
        .unwrap();
        let (c, f) = (creds.to_str().unwrap(), config.to_str().unwrap());

        let got = resolve(&[
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_SESSION_TOKEN", "t"),
            ("AWS_REGION", "us-east-2"),
        ])
        .unwrap();
        assert_eq!(got.credentials.access_key_id, "AKIDENV");
        assert_eq!(got.credentials.session_token.as_deref(), Some("t"));
        assert_eq!(got.region, "us-east-2");
        assert_eq!(got.endpoint, "https://autoscaling.us-east-2.amazonaws.com/");

        let got = resolve(&[("AWS_SHARED_CREDENTIALS_FILE", c), ("AWS_CONFIG_FILE", f)]).unwrap();
        assert_eq!(
            (got.credentials.access_key_id.as_str(), got.region.as_str()),
            ("AKIDDEFAULT", "eu-west-1")
        );
        assert_eq!(got.credentials.session_token, None);

        let got = resolve(&[
            ("AWS_SHARED_CREDENTIALS_FILE", c),
            ("AWS_CONFIG_FILE", f),
            ("AWS_PROFILE", "ops"),
            ("AWS_DEFAULT_REGION", "us-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ])
        .unwrap();
        assert_eq!(got.credentials.access_key_id, "AKIDOPS");
        assert_eq!(got.credentials.session_token.as_deref(), Some("t2"));
        assert_eq!(got.region, "us-west-1");
        assert_eq!(got.endpoint, "http://127.0.0.1:5000");

        let got = resolve(&[
            ("AWS_SHARED_CREDENTIALS_FILE", c),
            ("AWS_CONFIG_FILE", f),
            ("AWS_PROFILE", "ops"),
        ])
        .unwrap();
        assert_eq!(got.region, "ap-south-1");

        // HOME/.aws is the default place.
        std::fs::create_dir(dir.path().join(".aws")).unwrap();
        std::fs::copy(&creds, dir.path().join(".aws/credentials")).unwrap();
        let got = resolve(&[
            ("HOME", dir.path().to_str().unwrap()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL_AUTO_SCALING", "http://x"),
        ])
        .unwrap();
        assert_eq!(
            (got.credentials.access_key_id.as_str(), got.endpoint.as_str()),
            ("AKIDDEFAULT", "http://x")
        );
    }

    #[test]
    fn errors_name_the_variable_or_file_line() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "[default]\naws_access_key_id = A\nnot a pair\n").unwrap();
        let b = bad.to_str().unwrap();
        let missing = dir.path().join("missing");
        let m = missing.to_str().unwrap();
        for (vars, want) in [
            (
                vec![("AWS_ACCESS_KEY_ID", "A"), ("AWS_REGION", "us-east-1")],
                "AWS_SECRET_ACCESS_KEY: is unset".to_string(),
            ),
            (
                vec![("AWS_SHARED_CREDENTIALS_FILE", b)],
                format!("{b}:3: expected `key = value`"),
            ),
            (vec![("AWS_SHARED_CREDENTIALS_FILE", m)], format!("{m} does not exist")),
            (vec![], "no credentials".to_string()),
            (
                vec![("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "s")],
                "AWS_REGION: no region".to_string(),
            ),
            (
                vec![
                    ("AWS_ACCESS_KEY_ID", "A"),
                    ("AWS_SECRET_ACCESS_KEY", "s"),
                    ("AWS_REGION", "us/east"),
                ],
                "\"us/east\" is not a region name".to_string(),
            ),
        ] {
            let err = resolve(&vars).unwrap_err().to_string();
            assert!(err.contains(&want), "{vars:?}: {err}");
        }
        std::fs::write(&bad, "[ops]\naws_access_key_id = A\n").unwrap();
        let err = resolve(&[("AWS_SHARED_CREDENTIALS_FILE", b), ("AWS_PROFILE", "ops")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("profile [ops] has no aws_access_key_id and aws_secret_access_key"),
            "{err}"
        );
    }
}
