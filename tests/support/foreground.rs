//! A spawned process group as a terminal's foreground job: SIGINT and
//! SIGQUIT at their defaults, whatever the test run inherited.
//!
//! Why: a test run started in the background of a shell without job control
//! (`(make test &)`, some CI runners) inherits SIGINT ignored, and a shell
//! script (scripts/run.sh) cannot trap a signal that was ignored when it
//! started, so a test of Ctrl-C would see the environment, not the script.

use std::process::Command;

/// Makes `cmd`'s process start with SIGINT and SIGQUIT at their defaults.
pub fn as_foreground_job(cmd: &mut Command) {
    // SAFETY: between fork and exec only sigaction runs (async-signal-safe).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, || {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            for signal in [libc::SIGINT, libc::SIGQUIT] {
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
            Ok(())
        });
    }
}
