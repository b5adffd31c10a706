use super::*;

fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

const OK: &[(&str, &str)] = &[
    ("SETT_INSTANCE_NAME", "prod"),
    ("REDIS_URL", "redis://localhost:6379"),
];

/// `OK` plus `extra` (which may override it).
fn with(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut pairs: Vec<(&str, &str)> = extra.to_vec();
    pairs.extend(
        OK.iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k)),
    );
    Config::from_lookup(env(&pairs))
}

fn invalid_var(e: Result<Config, ConfigError>) -> &'static str {
    match e {
        Err(ConfigError::Invalid { var, .. }) => var,
        Err(other) => panic!("not Invalid: {other}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn defaults() {
    let c = Config::from_lookup(env(OK)).unwrap();
    assert_eq!(c.namespace, Namespace::Sett);
    assert_eq!(c.instance, "prod");
    assert_eq!(c.http_addr, DEFAULT_HTTP_ADDR);
    assert_eq!(c.retry_timeout, Duration::from_secs(60));
    assert!(c.reconcile);
    assert_eq!(c.redis_ca_file, None);
    assert_eq!(c.registry_file, RegistryFile::default_for(Namespace::Sett));
    assert_eq!(c.registry, None);
    assert_eq!(c.mode(), "phase1");
    assert_eq!(c.bid_timeout, None);
    assert_eq!(c.bid_overdue, Some(Duration::from_secs(600)));
    assert_eq!(c.phase_timeout, None);
    assert_eq!(c.catchup_interval, Some(Duration::from_secs(300)));
    assert_eq!(c.log_level, LogLevel::Info);
}

#[test]
fn the_holt_namespace() {
    let holt = [("HOLT_INSTANCE_NAME", "dev-1"), ("REDIS_URL", "redis://h")];
    let c = Config::from_lookup(env(&holt)).unwrap();
    assert_eq!(c.namespace, Namespace::Holt);
    assert_eq!(c.instance, "dev-1");
    assert_eq!(c.registry_file.path, PathBuf::from("/workspace/holt.yml"));
    assert!(!c.registry_file.named);
    let bad = [("HOLT_INSTANCE_NAME", "Dev"), ("REDIS_URL", "redis://h")];
    assert_eq!(
        invalid_var(Config::from_lookup(env(&bad))),
        "HOLT_INSTANCE_NAME"
    );
    let empty = [("HOLT_INSTANCE_NAME", ""), ("REDIS_URL", "redis://h")];
    assert_eq!(
        invalid_var(Config::from_lookup(env(&empty))),
        "HOLT_INSTANCE_NAME"
    );
    // Both set, even to the same name or one of them empty: refused.
    for (s, h) in [("prod", "prod"), ("a", "b"), ("", "b")] {
        let e = with(&[("SETT_INSTANCE_NAME", s), ("HOLT_INSTANCE_NAME", h)])
            .err()
            .unwrap();
        assert_eq!(
            e,
            ConfigError::Conflict("SETT_INSTANCE_NAME", "HOLT_INSTANCE_NAME")
        );
        let text = e.to_string();
        assert!(text.contains("SETT_INSTANCE_NAME and HOLT_INSTANCE_NAME are both set"));
    }
}

#[test]
fn the_registry_path() {
    let c = with(&[("SETT_CONFIG_FILE", "/tmp/x/sett.yml")]).unwrap();
    assert_eq!(
        c.registry_file,
        RegistryFile::named(PathBuf::from("/tmp/x/sett.yml"))
    );
    let holt = [
        ("HOLT_INSTANCE_NAME", "p"),
        ("REDIS_URL", "redis://h"),
        ("SETT_CONFIG_FILE", "/etc/holt.yml"),
    ];
    let c = Config::from_lookup(env(&holt)).unwrap();
    assert_eq!(c.registry_file.path, PathBuf::from("/etc/holt.yml"));
    assert!(c.registry_file.named);
    assert_eq!(
        invalid_var(with(&[("SETT_CONFIG_FILE", "")])),
        "SETT_CONFIG_FILE"
    );
}

#[test]
fn lifecycle_durations_accept_zero() {
    let c = with(&[
        ("SETT_BID_TIMEOUT", "0"),
        ("SETT_PHASE_TIMEOUT", "2s"),
        ("SETT_CATCHUP_INTERVAL", "0s"),
    ])
    .unwrap();
    assert_eq!(c.bid_timeout, None);
    assert_eq!(c.phase_timeout, Some(Duration::from_secs(2)));
    assert_eq!(c.catchup_interval, None);
    let c = with(&[
        ("SETT_BID_TIMEOUT", "500ms"),
        ("SETT_PHASE_TIMEOUT", "0"),
        ("SETT_CATCHUP_INTERVAL", "1h"),
    ])
    .unwrap();
    assert_eq!(c.bid_timeout, Some(Duration::from_millis(500)));
    assert_eq!(c.phase_timeout, None);
    assert_eq!(c.catchup_interval, Some(Duration::from_secs(3600)));
    let c = with(&[("SETT_BID_OVERDUE", "0")]).unwrap();
    assert_eq!(c.bid_overdue, None);
    let c = with(&[("SETT_BID_OVERDUE", "90s")]).unwrap();
    assert_eq!(c.bid_overdue, Some(Duration::from_secs(90)));
    for var in [
        "SETT_BID_TIMEOUT",
        "SETT_BID_OVERDUE",
        "SETT_PHASE_TIMEOUT",
        "SETT_CATCHUP_INTERVAL",
    ] {
        for bad in ["", "soon", "-1", "25h", "1.5s"] {
            assert_eq!(invalid_var(with(&[(var, bad)])), var, "{var}={bad}");
        }
    }
    // Only those four take 0.
    assert_eq!(
        invalid_var(with(&[("SETT_REDIS_RETRY_TIMEOUT", "0")])),
        "SETT_REDIS_RETRY_TIMEOUT"
    );
}

#[test]
fn log_levels() {
    assert_eq!(
        with(&[("SETT_LOG_LEVEL", "debug")]).unwrap().log_level,
        LogLevel::Debug
    );
    assert_eq!(
        with(&[("SETT_LOG_LEVEL", "info")]).unwrap().log_level,
        LogLevel::Info
    );
    assert_eq!(
        invalid_var(with(&[("SETT_LOG_LEVEL", "trace")])),
        "SETT_LOG_LEVEL"
    );
}

#[test]
fn every_variable_read_is_listed_for_help() {
    let read = std::cell::RefCell::new(Vec::new());
    let all = [("SETT_INSTANCE_NAME", "p"), ("REDIS_URL", "redis://h")];
    let _ = Config::from_lookup(|name: &str| {
        read.borrow_mut().push(name.to_string());
        env(&all)(name)
    });
    for name in read.borrow().iter() {
        assert!(
            VARIABLES.iter().any(|(n, _)| n == name),
            "{name} is read but not in VARIABLES"
        );
    }
    assert_eq!(read.borrow().len(), VARIABLES.len());
}

#[test]
fn missing_variables() {
    let e = Config::from_lookup(env(&[("REDIS_URL", "redis://x")]))
        .err()
        .unwrap();
    assert_eq!(e, ConfigError::Missing("SETT_INSTANCE_NAME"));
    let e = Config::from_lookup(env(&[("SETT_INSTANCE_NAME", "x")]))
        .err()
        .unwrap();
    assert_eq!(e, ConfigError::Missing("REDIS_URL"));
}

#[test]
fn errors_never_show_the_password() {
    let pairs = [
        ("SETT_INSTANCE_NAME", "x"),
        ("REDIS_URL", "http://u:hunter2@host"),
    ];
    let e = Config::from_lookup(env(&pairs)).err().unwrap();
    assert!(e.to_string().starts_with("REDIS_URL is invalid"));
    assert!(!e.to_string().contains("hunter2"));
}

#[test]
fn reconcile_switch() {
    assert!(!with(&[("SETT_RECONCILE", "off")]).unwrap().reconcile);
    assert_eq!(
        invalid_var(with(&[("SETT_RECONCILE", "maybe")])),
        "SETT_RECONCILE"
    );
}

#[test]
fn a_ca_file_not_yet_read_is_an_error_never_the_web_roots() {
    let c = with(&[
        ("REDIS_URL", "rediss://h:6380"),
        ("SETT_REDIS_CA_FILE", "/nowhere/ca.pem"),
    ])
    .unwrap();
    assert_eq!(
        c.redis_ca().unwrap_err(),
        "SETT_REDIS_CA_FILE has not been read (Config::load_files)"
    );
    assert!(with(&[]).unwrap().redis_ca().unwrap().is_none());
}
