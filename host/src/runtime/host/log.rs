//! `log`: guest lines into the host's log, bounded in number and length,
//! at the guest's level, tagged with the tenant, the component and the
//! world.

use super::HostState;
use crate::runtime::bindings::bbws::platform::log;

/// Lines of one call that reach the host's log; later ones are dropped.
const MAX_LINES: u32 = 16;

/// The longest line kept, in bytes.
const MAX_LINE: usize = 1024;

impl log::Host for HostState {
    fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.charge()?;
        self.guest_line(level, &message);
        Ok(())
    }
}

impl HostState {
    /// One line of the guest's into the host's log (its `log.write`, or a
    /// line it wrote to stdout or stderr), while the call has lines left.
    pub(crate) fn guest_line(&mut self, level: log::Level, message: &str) {
        if self.log_lines < MAX_LINES {
            self.log_lines += 1;
            // Cut on a character boundary: guests choose the bytes.
            let message = &message[..message.floor_char_boundary(MAX_LINE)];
            let (tenant, component, world) = match &self.origin {
                Some((o, world)) => (o.tenant.as_str(), o.component.as_str(), *world),
                None => ("", "", ""),
            };
            // The guest's level is the line's level; the target names it
            // as a guest's (`BBWS_LOG=bbws::guest=warn` quiets them).
            macro_rules! line {
                ($level:ident) => {
                    tracing::$level!(target: "bbws::guest", %tenant, %component, %world, %message)
                };
            }
            match level {
                log::Level::Debug => line!(debug),
                log::Level::Info => line!(info),
                log::Level::Warn => line!(warn),
                log::Level::Error => line!(error),
            }
        }
    }

    /// Logs what the guest wrote to stdout (at `info`) and stderr (at
    /// `warn`), line by line, within the call's line limit.
    pub(crate) fn log_output(&mut self) {
        let Some(wasi) = self.wasi.as_ref() else {
            return;
        };
        let (stdout, stderr) = wasi.output();
        for (level, bytes) in [(log::Level::Info, stdout), (log::Level::Warn, stderr)] {
            for line in String::from_utf8_lossy(&bytes).lines() {
                self.guest_line(level, line);
            }
        }
    }
}
