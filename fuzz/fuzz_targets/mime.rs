//! The MIME message view (`InboundMessage::message`) on arbitrary bytes, with small and
//! default limits: never a panic; a view's attachments respect the file limit and have safe
//! file names; an error is a 400 or a 413.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgun_webhooks::{InboundMessage, Limits};

fuzz_target!(|data: &[u8]| {
    let small = Limits::default().mime_depth(4).mime_parts(16).file(4096);
    for limits in [Limits::default(), small] {
        let msg = InboundMessage::from_mime(data.to_vec(), &limits);
        match msg.message() {
            Ok(view) => {
                for a in view.attachments() {
                    assert!(a.size() as u64 <= limits.max_file());
                    let safe = a.safe_filename();
                    assert!(!safe.is_empty() && !safe.contains(['/', '\\']));
                }
                let _ = (view.subject(), view.from(), view.to(), view.date());
                let _ = (view.text(), view.html(), view.references());
                // The same view the second time.
                assert_eq!(msg.message().ok(), Some(view));
            }
            Err(e) => assert!([400, 413].contains(&e.status().as_u16()), "{e}"),
        }
    }
});
