//! `Event::from_json` on any bytes: no panic; a typed error otherwise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgun_webhooks::Event;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = Event::from_json(data) {
        // Every accessor works on whatever came out.
        let _ = (event.kind(), event.name(), event.recipient(), event.tags());
        let _ = (event.message_id(), event.reason(), event.user_variables());
    }
});
