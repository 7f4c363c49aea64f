//! `log`: guest lines into the host's log, bounded in number and length.

use super::HostState;
use crate::runtime::bindings::bbws::platform::log;

/// Lines of one call that reach the host's log; later ones are dropped.
const MAX_LINES: u32 = 16;

/// The longest line kept, in bytes.
const MAX_LINE: usize = 1024;

impl log::Host for HostState {
    fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.charge()?;
        if self.log_lines < MAX_LINES {
            self.log_lines += 1;
            // Cut on a character boundary: guests choose the bytes.
            let message = &message[..message.floor_char_boundary(MAX_LINE)];
            tracing::debug!(?level, %message, "guest log");
        }
        Ok(())
    }
}
