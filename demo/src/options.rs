//! The command line's options for the stories (`--redis-url`, `--instance`,
//! `--timeout`): a leaf both the lifecycle stories in `main` and the
//! controller story in `workers` read, so neither imports the other.

use std::time::Duration;

pub struct Options {
    pub redis_url: String,
    pub instance: String,
    pub timeout: Duration,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut o = Options {
        redis_url: std::env::var("REDIS_URL").unwrap_or_default(),
        instance: "demo".into(),
        timeout: Duration::from_secs(20),
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--redis-url" => o.redis_url = value()?,
            "--instance" => o.instance = value()?,
            "--timeout" => {
                let v = value()?;
                let secs: f64 = v
                    .parse()
                    .map_err(|_| format!("--timeout {v}: not a number"))?;
                o.timeout = Duration::try_from_secs_f64(secs)
                    .map_err(|_| format!("--timeout {v}: out of range"))?;
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if o.redis_url.is_empty() {
        return Err("no Redis: pass --redis-url or set REDIS_URL".into());
    }
    Ok(o)
}
