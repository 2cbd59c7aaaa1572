//! Credential and region resolution with a fake environment and temporary profile files.

use std::collections::HashMap;
use std::path::Path;

use gauntlet_aws::{AwsError, Credentials, credentials_from, region_from};

/// A fake environment; `HOME` points at a directory without `.aws` unless overridden.
struct Env(HashMap<String, String>);

impl Env {
    fn new(home: &Path) -> Self {
        let mut vars = HashMap::new();
        vars.insert("HOME".to_owned(), home.display().to_string());
        Env(vars)
    }

    fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.0.insert(key.to_owned(), value.to_string());
        self
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |k| self.0.get(k).cloned()
    }
}

const CREDENTIALS_FILE: &str = "\
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = default-secret

[work]
aws_access_key_id=AKIDWORK
aws_secret_access_key=work-secret
aws_session_token = work-token

[half]
aws_access_key_id = AKIDHALF
";

const CONFIG_FILE: &str = "\
[default]
region = us-west-2

[profile cfgonly]
region = eu-central-1
aws_access_key_id = AKIDCFG
aws_secret_access_key = cfg-secret

[profile work]
region = eu-west-3

[profile sso]
sso_session = corp
sso_account_id = 123456789012
";

fn write_files(dir: &Path) -> (String, String) {
    let creds = dir.join("creds");
    let config = dir.join("config");
    std::fs::write(&creds, CREDENTIALS_FILE).unwrap();
    std::fs::write(&config, CONFIG_FILE).unwrap();
    (creds.display().to_string(), config.display().to_string())
}

fn key_pair(id: &str, secret: &str, token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: id.to_owned(),
        secret_access_key: secret.to_owned(),
        session_token: token.map(str::to_owned),
    }
}

#[test]
fn environment_comes_first_without_a_profile() {
    let dir = tempfile::tempdir().unwrap();
    let (creds, config) = write_files(dir.path());
    let env = Env::new(dir.path())
        .set("AWS_SHARED_CREDENTIALS_FILE", &creds)
        .set("AWS_CONFIG_FILE", &config)
        .set("AWS_ACCESS_KEY_ID", "AKIDENV")
        .set("AWS_SECRET_ACCESS_KEY", "env-secret")
        .set("AWS_SESSION_TOKEN", "env-token");
    assert_eq!(
        credentials_from(&env.lookup(), None).unwrap(),
        key_pair("AKIDENV", "env-secret", Some("env-token"))
    );
    // Naming a profile, by argument or AWS_PROFILE, skips the environment keys.
    assert_eq!(
        credentials_from(&env.lookup(), Some("work")).unwrap(),
        key_pair("AKIDWORK", "work-secret", Some("work-token"))
    );
    let env = env.set("AWS_PROFILE", "work");
    assert_eq!(
        credentials_from(&env.lookup(), None).unwrap().access_key_id,
        "AKIDWORK"
    );
}

#[test]
fn environment_without_token_and_partial_environment() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::new(dir.path())
        .set("AWS_ACCESS_KEY_ID", "AKIDENV")
        .set("AWS_SECRET_ACCESS_KEY", "env-secret");
    assert_eq!(
        credentials_from(&env.lookup(), None).unwrap(),
        key_pair("AKIDENV", "env-secret", None)
    );
    let env = Env::new(dir.path()).set("AWS_ACCESS_KEY_ID", "AKIDENV");
    let err = credentials_from(&env.lookup(), None).unwrap_err();
    assert!(
        matches!(err, AwsError::PartialCredentials { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{err}");
}

#[test]
fn profiles_come_from_the_credentials_then_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (creds, config) = write_files(dir.path());
    let env = Env::new(dir.path())
        .set("AWS_SHARED_CREDENTIALS_FILE", &creds)
        .set("AWS_CONFIG_FILE", &config);
    let lookup = env.lookup();
    assert_eq!(
        credentials_from(&lookup, None).unwrap(),
        key_pair("AKIDDEFAULT", "default-secret", None)
    );
    assert_eq!(
        credentials_from(&lookup, Some("cfgonly")).unwrap(),
        key_pair("AKIDCFG", "cfg-secret", None)
    );
}

#[test]
fn default_locations_under_home() {
    let dir = tempfile::tempdir().unwrap();
    let aws = dir.path().join(".aws");
    std::fs::create_dir(&aws).unwrap();
    std::fs::write(aws.join("credentials"), CREDENTIALS_FILE).unwrap();
    std::fs::write(aws.join("config"), CONFIG_FILE).unwrap();
    let env = Env::new(dir.path());
    assert_eq!(
        credentials_from(&env.lookup(), Some("work"))
            .unwrap()
            .access_key_id,
        "AKIDWORK"
    );
    assert_eq!(
        region_from(&env.lookup(), Some("work")).as_deref(),
        Some("eu-west-3")
    );
}

#[test]
fn missing_credentials_name_what_was_tried() {
    let dir = tempfile::tempdir().unwrap();
    let (creds, config) = write_files(dir.path());
    let env = Env::new(dir.path())
        .set("AWS_SHARED_CREDENTIALS_FILE", &creds)
        .set("AWS_CONFIG_FILE", &config);
    let err = credentials_from(&env.lookup(), Some("nope")).unwrap_err();
    assert!(matches!(err, AwsError::NoCredentials { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("`nope`"), "{msg}");
    assert!(msg.contains(&creds) && msg.contains("[nope]"), "{msg}");
    assert!(
        msg.contains(&config) && msg.contains("[profile nope]"),
        "{msg}"
    );
    assert!(!msg.contains("secret"), "{msg}");

    // No files at all: the environment variables and the default paths are named.
    let empty = tempfile::tempdir().unwrap();
    let err = credentials_from(&Env::new(empty.path()).lookup(), None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("AWS_ACCESS_KEY_ID"), "{msg}");
    assert!(msg.contains(".aws/credentials (not found)"), "{msg}");
    assert!(msg.contains(".aws/config (not found)"), "{msg}");

    // Nowhere to look.
    let err = credentials_from(&|_: &str| None, None).unwrap_err();
    assert!(err.to_string().contains("HOME"), "{err}");
}

#[test]
fn partial_and_unsupported_profiles_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let (creds, config) = write_files(dir.path());
    let env = Env::new(dir.path())
        .set("AWS_SHARED_CREDENTIALS_FILE", &creds)
        .set("AWS_CONFIG_FILE", &config);
    let err = credentials_from(&env.lookup(), Some("half")).unwrap_err();
    assert!(
        matches!(err, AwsError::PartialCredentials { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("aws_secret_access_key"), "{err}");
    assert!(!err.to_string().contains("AKIDHALF"), "{err}");

    let err = credentials_from(&env.lookup(), Some("sso")).unwrap_err();
    assert!(
        matches!(err, AwsError::UnsupportedProfile { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("sso_session"), "{err}");
}

#[test]
fn debug_does_not_leak_secrets() {
    let creds = key_pair("AKIDVISIBLE", "very-secret-key", Some("very-secret-token"));
    let shown = format!("{creds:?} {creds:#?}");
    assert!(shown.contains("AKIDVISIBLE"), "{shown}");
    assert!(shown.contains("***"), "{shown}");
    assert!(!shown.contains("very-secret"), "{shown}");
    let no_token = format!("{:?}", key_pair("A", "very-secret-key", None));
    assert!(no_token.contains("session_token: None"), "{no_token}");
}

#[test]
fn region_order() {
    let dir = tempfile::tempdir().unwrap();
    let (_, config) = write_files(dir.path());
    let base = Env::new(dir.path()).set("AWS_CONFIG_FILE", &config);
    assert_eq!(
        region_from(&base.lookup(), None).as_deref(),
        Some("us-west-2")
    );
    assert_eq!(
        region_from(&base.lookup(), Some("cfgonly")).as_deref(),
        Some("eu-central-1")
    );
    assert_eq!(region_from(&base.lookup(), Some("sso")), None);
    let env = base.set("AWS_PROFILE", "work");
    assert_eq!(
        region_from(&env.lookup(), None).as_deref(),
        Some("eu-west-3")
    );
    let env = env.set("AWS_DEFAULT_REGION", "ap-south-1");
    assert_eq!(
        region_from(&env.lookup(), None).as_deref(),
        Some("ap-south-1")
    );
    let env = env.set("AWS_REGION", "sa-east-1");
    assert_eq!(
        region_from(&env.lookup(), None).as_deref(),
        Some("sa-east-1")
    );
    assert_eq!(region_from(&|_: &str| None, None), None);
}
