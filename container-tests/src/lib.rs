//! Container tests live in tests/.
