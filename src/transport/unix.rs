//! `unix:///path`: UNIX SOCK_SEQPACKET sockets (in progress).

use super::{MsgReceiver, MsgSender, OpenSpec};
use crate::error::{Error, Result};

/// Not yet served (placeholder until the transport lands).
pub fn open_sender(_spec: &OpenSpec) -> Result<Box<dyn MsgSender>> {
    Err(Error::Unsupported {
        what: "this transport (not yet)",
    })
}

/// Not yet served (placeholder until the transport lands).
pub fn open_receiver(_spec: &OpenSpec) -> Result<Box<dyn MsgReceiver>> {
    Err(Error::Unsupported {
        what: "this transport (not yet)",
    })
}

/// Not yet served (placeholder until the transport lands).
pub fn unlink(_path: &std::path::Path) -> Result<()> {
    Err(Error::Unsupported {
        what: "this transport (not yet)",
    })
}
