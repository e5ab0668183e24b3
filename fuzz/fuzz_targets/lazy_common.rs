//! What the `lazy_*` targets check of every `LazyEvent` they get.

use mailgun_webhooks::LazyEvent;

/// Its accessors agree with its own full decode, and so does `into_event`.
pub fn assert_consistent(lazy: &LazyEvent) {
    let full = lazy.event();
    assert_eq!(lazy.kind(), full.kind());
    assert_eq!(lazy.name(), full.name());
    assert_eq!(lazy.id(), full.id());
    assert_eq!(lazy.recipient(), full.recipient());
    assert_eq!(lazy.timestamp(), full.timestamp());
    assert_eq!(&lazy.clone().into_event(), full);
}
