//! The log level: `debug` lines are neither built nor written unless the
//! level is `debug`; the default is `info`.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

static MIN_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Lines below `level` are neither built nor written from now on.
pub fn set_level(level: Level) {
    MIN_LEVEL.store(level as u8, Relaxed);
}

/// Whether lines of `level` are built and written.
pub fn enabled(level: Level) -> bool {
    level as u8 >= MIN_LEVEL.load(Relaxed)
}

/// Whether `debug` lines are written (for work done only to log at debug).
pub fn debug_enabled() -> bool {
    MIN_LEVEL.load(Relaxed) <= Level::Debug as u8
}
