//! Hostile MIME through the message view: typed errors or lenient values, never a panic.

use mailgun_webhooks::{ErrorKind, InboundMessage, Limit, Limits};

fn view_err(raw: Vec<u8>, limits: &Limits) -> ErrorKind {
    InboundMessage::from_mime(raw, limits)
        .message()
        .map(|_| ())
        .unwrap_err()
        .into_kind()
}

fn nested_multiparts(levels: usize) -> Vec<u8> {
    let mut raw = String::from("Subject: deep\r\n");
    for i in 0..levels {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
    for i in (0..levels).rev() {
        raw.push_str(&format!("--b{i}--\r\n"));
    }
    raw.into_bytes()
}

#[test]
fn ten_thousand_nested_multiparts_are_refused_by_depth() {
    let raw = nested_multiparts(10_000);
    let kind = view_err(raw.clone(), &Limits::default());
    assert!(
        matches!(
            kind,
            ErrorKind::LimitExceeded {
                what: Limit::MimeDepth | Limit::MimeParts,
                ..
            }
        ),
        "{kind:?}"
    );
    // A nesting the structure bound lets through is stopped by the depth limit.
    assert_eq!(
        view_err(nested_multiparts(200), &Limits::default()),
        ErrorKind::LimitExceeded {
            what: Limit::MimeDepth,
            limit: 32
        }
    );
    // Within the depth limit, the bottom text is found.
    let msg = InboundMessage::from_mime(nested_multiparts(30), &Limits::default());
    assert_eq!(msg.message().unwrap().text().map(str::trim), Some("bottom"));
    assert_eq!(msg.message().unwrap().subject(), Some("deep"));
}

#[test]
fn part_count_over_the_limit() {
    let mut raw =
        String::from("Subject: many\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n");
    for i in 0..50 {
        raw.push_str(&format!(
            "--x\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"f{i}.txt\"\r\n\r\npart {i}\r\n"
        ));
    }
    raw.push_str("--x--\r\n");
    let raw = raw.into_bytes();
    assert_eq!(
        view_err(raw.clone(), &Limits::default().mime_parts(20)),
        ErrorKind::LimitExceeded {
            what: Limit::MimeParts,
            limit: 20
        }
    );
    let msg = InboundMessage::from_mime(raw, &Limits::default());
    let v = msg.message().unwrap();
    assert_eq!(v.attachments().len(), 50);
    assert_eq!(v.attachments()[49].filename(), Some("f49.txt"));
    assert_eq!(v.attachments()[49].data(), b"part 49");
}

fn with_attachment(headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nSubject: files\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n\
         --B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n\
         --B\r\n{headers}\r\n\r\n{body}\r\n--B--\r\n"
    )
    .into_bytes()
}

#[test]
fn decoded_attachment_over_the_file_limit() {
    // 3,000 bytes decoded from base64.
    let data = vec![b'z'; 3000];
    let b64 = base64(&data);
    let raw = with_attachment(
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=big.bin",
        &b64,
    );
    assert_eq!(
        view_err(raw.clone(), &Limits::default().file(2999)),
        ErrorKind::LimitExceeded {
            what: Limit::File,
            limit: 2999
        }
    );
    let msg = InboundMessage::from_mime(raw, &Limits::default().file(3000));
    let a = &msg.message().unwrap().attachments()[0];
    assert_eq!((a.size(), a.data()), (3000, data.as_slice()));
    assert_eq!(a.filename(), Some("big.bin"));
}

#[test]
fn broken_base64_is_read_leniently() {
    let raw = with_attachment(
        "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=broken.pdf",
        "JVBERi0xLjQK!!!not*base64%%%\r\n====",
    );
    let msg = InboundMessage::from_mime(raw, &Limits::default());
    let v = msg.message().unwrap();
    assert_eq!(v.subject(), Some("files"));
    assert_eq!(v.text().map(str::trim), Some("see attached"));
    // Whatever the decoder recovered, the part is still listed and bounded.
    for a in v.attachments() {
        assert!(a.size() < 100);
    }
}

#[test]
fn unknown_charset_is_read_as_utf8() {
    let raw = b"Subject: =?x-unknown-42?q?hello?=\r\nContent-Type: text/plain; charset=x-unknown-42\r\n\r\ncaf\xc3\xa9 \xff\r\n".to_vec();
    let msg = InboundMessage::from_mime(raw, &Limits::default());
    let v = msg.message().unwrap();
    assert!(v.text().unwrap().starts_with("caf\u{e9} \u{fffd}"));
    assert!(v.subject().is_some());
}

#[test]
fn rfc2231_filenames_with_separators_and_device_names() {
    let cases = [
        (
            "filename*=utf-8''..%2F..%2Fetc%2Fpasswd",
            "../../etc/passwd",
        ),
        (
            "filename*=UTF-8''C%3A%5CWindows%5Cwin.ini",
            "C:\\Windows\\win.ini",
        ),
        ("filename*0*=utf-8''CON; filename*1*=.txt", "CON.txt"),
        ("filename*=utf-8''NUL", "NUL"),
        ("filename*=utf-8''%E2%80%AEfdp.exe", "\u{202e}fdp.exe"),
    ];
    for (param, original) in cases {
        let raw = with_attachment(
            &format!("Content-Type: text/plain\r\nContent-Disposition: attachment; {param}"),
            "x",
        );
        let msg = InboundMessage::from_mime(raw, &Limits::default());
        let v = msg.message().unwrap();
        let a = &v.attachments()[0];
        assert_eq!(a.filename(), Some(original), "{param}");
        let safe = a.safe_filename();
        assert!(!safe.is_empty() && !safe.starts_with('.'), "{safe:?}");
        assert!(!safe.contains(['/', '\\', ':', '\u{202e}']), "{safe:?}");
        let stem = safe.split('.').next().unwrap().to_ascii_uppercase();
        assert!(
            !["CON", "NUL", "PRN", "AUX"].contains(&stem.as_str()),
            "{safe:?}"
        );
    }
}

#[test]
fn message_inside_message_inside_message() {
    let innermost = "From: c@example.org\r\nSubject: innermost\r\n\r\ndeepest text\r\n";
    let middle = format!(
        "From: b@example.org\r\nSubject: middle\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n\
         --M\r\nContent-Type: text/plain\r\n\r\nmiddle text\r\n\
         --M\r\nContent-Type: message/rfc822\r\n\r\n{innermost}\r\n--M--\r\n"
    );
    let outer = format!(
        "From: a@example.org\r\nSubject: outer\r\nContent-Type: multipart/mixed; boundary=O\r\n\r\n\
         --O\r\nContent-Type: text/plain\r\n\r\nouter text\r\n\
         --O\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=fwd.eml\r\n\r\n{middle}\r\n--O--\r\n"
    );
    let msg = InboundMessage::from_mime(outer.into_bytes(), &Limits::default());
    let v = msg.message().unwrap();
    assert_eq!(v.subject(), Some("outer"));
    assert_eq!(v.text().map(str::trim), Some("outer text"));
    assert_eq!(v.attachments().len(), 1, "{:?}", v.attachments());
    let fwd = &v.attachments()[0];
    assert_eq!(fwd.content_type(), Some("message/rfc822"));
    assert_eq!(fwd.filename(), Some("fwd.eml"));
    // The attached message is itself readable, and so is the one inside it.
    let inner = InboundMessage::from_mime(fwd.data().to_vec(), &Limits::default());
    let iv = inner.message().unwrap();
    assert_eq!(iv.subject(), Some("middle"));
    assert_eq!(iv.attachments().len(), 1);
    let deepest =
        InboundMessage::from_mime(iv.attachments()[0].data().to_vec(), &Limits::default());
    assert_eq!(deepest.message().unwrap().subject(), Some("innermost"));
    // A depth limit of 1 refuses the outer message (multipart, message, multipart, message).
    assert!(matches!(
        view_err(
            InboundMessage::from_mime(msg.raw_mime().unwrap().to_vec(), &Limits::default())
                .raw_mime()
                .unwrap()
                .to_vec(),
            &Limits::default().mime_depth(1)
        ),
        ErrorKind::LimitExceeded {
            what: Limit::MimeDepth,
            ..
        }
    ));
}

#[test]
fn not_a_message_and_garbage_never_panic() {
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\r\n\r\n".to_vec(),
        b"no colon here".to_vec(),
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n".to_vec(),
        b"Content-Type: multipart/mixed; boundary=-\r\n\r\n---------------------\r\n".to_vec(),
        b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n".to_vec(),
        vec![0xff; 1000],
        b"Content-Transfer-Encoding: base64\r\nContent-Type: message/rfc822\r\n\r\n!!!!".to_vec(),
    ];
    for raw in inputs {
        let msg = InboundMessage::from_mime(raw, &Limits::default());
        if let Err(e) = msg.message() {
            assert!(
                [400, 413].contains(&e.status().as_u16()),
                "{e}: {}",
                e.status()
            );
        }
    }
}

/// Standard base64 with line breaks every 76 characters.
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for j in 0..4 {
            if j <= chunk.len() {
                out.push(A[((n >> (18 - 6 * j)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_folded_message_content_type_counts_as_a_nested_message() {
    // Each level's `message/rfc822` is on a folded line of its own.
    let mut raw = String::new();
    while raw.len() < 1 << 20 {
        raw.push_str("Content-Type:\r\n message/rfc822\r\n\r\n");
    }
    let kind = view_err(raw.into_bytes(), &Limits::default().mime_depth(128));
    assert!(
        matches!(
            kind,
            ErrorKind::LimitExceeded {
                what: Limit::MimeParts | Limit::MimeDepth,
                ..
            }
        ),
        "{kind:?}"
    );
}
