//! Fuzzes the configuration parser (`Config::from_lookup` and the `parse_*`
//! and `check_*` functions) and the agent registry parser: no panic, accepted
//! values are in range, and no message or log form ever shows the Redis
//! password.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sett_orchestrator::config::{
    check_instance_name, check_redis_url, format_duration, parse_duration,
    parse_duration_or_zero, parse_http_addr, redact_url, Config, VARIABLES,
};
use sett_orchestrator::config::registry::Registry;

const PASSWORD: &str = "pw-fuzz-4b1d";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = check_instance_name(&text);
    let _ = parse_http_addr(&text);
    if let Ok(d) = parse_duration(&text) {
        assert!(d.as_millis() > 0 && d.as_secs() <= 86_400, "{d:?}");
    }
    if let Ok(Some(d)) = parse_duration_or_zero(&text) {
        assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }
    if let Ok(registry) = Registry::parse(&text) {
        let names: Vec<&str> = registry.agents().iter().map(|a| a.name.as_str()).collect();
        assert!(!names.is_empty());
        assert!(names.windows(2).all(|p| p[0] < p[1]), "not sorted and unique");
    }
    if check_redis_url(&text).is_ok() {
        assert!(redis_url_has_no_credentials(&redact_url(&text)));
    }

    // NUL-separated values for the variables, in VARIABLES order; a lone
    // "\u{1}" means unset. REDIS_URL is tried as given and with a password.
    let fields: Vec<&str> = text.split('\0').collect();
    let value = |i: usize| {
        fields
            .get(i)
            .filter(|v| **v != "\u{1}")
            .map(|v| v.to_string())
    };
    for with_password in [false, true] {
        let lookup = |name: &str| {
            let i = VARIABLES
                .iter()
                .position(|(n, _)| *n == name)
                .expect("only known variables are read");
            let v = value(i)?;
            Some(if with_password && name == "REDIS_URL" {
                format!("redis://user:{PASSWORD}@{v}")
            } else {
                v
            })
        };
        match Config::from_lookup(lookup) {
            Ok(config) => {
                assert!(check_instance_name(&config.instance).is_ok());
                assert!(config.retry_timeout.as_millis() > 0);
                for d in [config.bid_timeout, config.phase_timeout, config.catchup_interval] {
                    assert!(d.is_none_or(|d| d.as_millis() > 0 && d.as_secs() <= 86_400));
                }
                assert!(config.registry.is_none(), "from_lookup reads no file");
                assert!(
                    redis_url_has_no_credentials(&config.redis_display()),
                    "{}",
                    config.redis_display()
                );
            }
            // Errors name the variable and the problem, never the value.
            Err(e) => assert!(!e.to_string().contains(PASSWORD), "{e}"),
        }
    }
});

fn redis_url_has_no_credentials(display: &str) -> bool {
    match url::Url::parse(display) {
        Ok(u) => u.password().is_none() && u.username().is_empty(),
        Err(_) => display == "<invalid>",
    }
}
