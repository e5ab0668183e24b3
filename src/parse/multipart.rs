//! Legacy and inbound `multipart/form-data` bodies.

use super::{Limits, Payload};
use crate::error::{ErrorKind, Result};
use crate::verify::Unverified;

pub(crate) fn parse(_boundary: &str, _body: &[u8], _limits: &Limits) -> Result<Unverified<Payload>> {
    Err(ErrorKind::UnsupportedContentType.into())
}
