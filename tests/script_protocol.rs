//! Every decision script states the protocol of its answers, and it is held
//! to the decoder's before the scripts load: a script this binary cannot
//! decode stops the start-up, never claim after claim failing with
//! "unexpected reply".

use sett_orchestrator::blackboard::effects::PROTOCOL;
use sett_orchestrator::config::Config;
use sett_orchestrator::redis_io::scripts::{check_protocols, ProtocolMismatch, Script};
use sett_orchestrator::redis_io::subscriber::Decode;
use sett_orchestrator::redis_io::Clients;
use sett_orchestrator::{lifecycle, phase1};

fn config() -> Config {
    Config::from_lookup(|name| match name {
        "SETT_INSTANCE_NAME" => Some("proto".into()),
        "REDIS_URL" => Some("redis://127.0.0.1:1".into()),
        _ => None,
    })
    .unwrap()
}

fn clients(scripts: Vec<&'static Script>) -> Result<Clients, String> {
    let channels = vec![("sett:proto:artefact_events".into(), Decode::ArtefactEvent)];
    Clients::new(&config(), channels, scripts)
}

fn leak(name: &'static str, text: &str) -> &'static Script {
    let text: &'static str = Box::leak(text.to_string().into_boxed_str());
    Box::leak(Box::new(Script::new(name, &[], &[text])))
}

#[test]
fn every_script_of_the_binary_states_the_decoders_protocol() {
    let mut scripts = phase1::scripts();
    scripts.extend(lifecycle::scripts::scripts());
    assert_eq!(scripts.len(), 8);
    for script in &scripts {
        assert_eq!(script.protocol(), Some(PROTOCOL), "{}", script.name);
    }
    assert!(clients(scripts).is_ok());
}

#[test]
fn a_script_of_another_protocol_is_refused_naming_it() {
    let old = leak(
        "old",
        "-- an old script\nlocal PROTOCOL = 1\nreturn { { 'not_found' } }",
    );
    let mut scripts = phase1::scripts();
    scripts.push(old);
    assert_eq!(
        check_protocols(&scripts),
        Err(ProtocolMismatch {
            script: "old",
            stated: Some(1)
        })
    );
    assert_eq!(
        clients(scripts).err().as_deref(),
        Some(
            format!("the old script speaks protocol 1; this binary reads protocol {PROTOCOL}")
                .as_str()
        )
    );
    let silent = leak("silent", "return { { 'not_found' } }");
    assert_eq!(
        clients(vec![silent]).err(),
        Some(format!(
            "the silent script does not state its protocol; this binary reads protocol {PROTOCOL}"
        ))
    );
}
