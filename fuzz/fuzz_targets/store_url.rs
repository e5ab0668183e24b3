//! The `store()` URL check: whatever it accepts, a WHATWG parser (the `url` crate, as reqwest
//! uses) reads as https on the default port, without user info, on mailgun.net or a subdomain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgun_webhooks::fuzzing::is_mailgun_storage_url;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if !is_mailgun_storage_url(s) {
        return;
    }
    let u = url::Url::parse(s).expect("accepted but not a URL");
    assert_eq!(u.scheme(), "https", "{s:?}");
    assert!(u.username().is_empty() && u.password().is_none(), "{s:?}");
    assert_eq!(u.port_or_known_default(), Some(443), "{s:?}");
    assert!(u.port().is_none(), "{s:?}");
    let host = match u.host() {
        Some(url::Host::Domain(h)) => h.to_owned(),
        other => panic!("{s:?}: host {other:?}"),
    };
    assert!(host == "mailgun.net" || host.ends_with(".mailgun.net"), "{s:?}: {host}");
    assert!(!s.contains(['\\', '@', ' ', '\t', '\n', '\r', '%']), "{s:?}");
});
