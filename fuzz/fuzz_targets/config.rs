//! Fuzzes the configuration parser (`Config::from_lookup` and the `parse_*`
//! and `check_*` functions): no panic, accepted values are in range, and no
//! message or log form ever shows the Redis password.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sett_orchestrator::config::{
    check_instance_name, check_redis_url, parse_duration, parse_http_addr, redact_url, Config,
    VARIABLES,
};

const PASSWORD: &str = "pw-fuzz-4b1d";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = check_instance_name(&text);
    let _ = parse_http_addr(&text);
    if let Ok(d) = parse_duration(&text) {
        assert!(d.as_millis() > 0 && d.as_secs() <= 86_400, "{d:?}");
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
