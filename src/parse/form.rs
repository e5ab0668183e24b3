//! Legacy and inbound `application/x-www-form-urlencoded` bodies.

use super::{Limits, Payload};
use crate::error::{ErrorKind, Result};
use crate::verify::Unverified;

pub(crate) fn parse(_body: &[u8], _limits: &Limits) -> Result<Unverified<Payload>> {
    Err(ErrorKind::UnsupportedContentType.into())
}
