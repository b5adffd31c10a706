//! Redis I/O: the connections of a session, the streaming subscriber, and
//! running server-side scripts. Nothing here decides anything about claims;
//! the deciders build script calls and the engine runs sessions.
//!
//! - `call`: a script call's arguments, shared where they repeat, and their
//!   encoding as one command;
//! - `connect`: a session's two connections (commands and subscription),
//!   each step under its own time limit; scripts loaded and their protocol
//!   checked;
//! - `errors`: which errors end a session;
//! - `functions`: decisions as one Redis Functions library (FCALL), or as
//!   scripts where Redis has no FUNCTION or refuses it;
//! - `scripts`: a batch of script calls as one pipeline, answers decoded into
//!   effects;
//! - `subscriber`: the hand-written streaming Pub/Sub connection.

pub mod call;
pub mod connect;
pub mod errors;
pub mod functions;
pub mod scripts;
pub mod subscriber;

pub use connect::{connect, connect_at_startup, Clients, ConnectError, Session};
pub use errors::{ends_session, error_from_reply, is_connection_lost};
