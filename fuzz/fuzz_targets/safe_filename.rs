//! `Attachment::safe_filename`: never empty, never a Windows device name (any case, with or
//! without extension, trailing dots or spaces), no separator or control character, at most
//! 255 bytes, stable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgun_webhooks::Attachment;

fn is_device_name(s: &str) -> bool {
    let stem = s.split('.').next().unwrap_or_default();
    let stem = stem.trim_end_matches([' ', '.']).to_uppercase();
    if ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"].contains(&stem.as_str()) {
        return true;
    }
    let chars: Vec<char> = stem.chars().collect();
    chars.len() == 4
        && (stem.starts_with("COM") || stem.starts_with("LPT"))
        && (chars[3].is_ascii_digit() || "¹²³".contains(chars[3]))
}

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data).into_owned();
    let (field, name) = raw.split_at(raw.char_indices().nth(3).map_or(0, |(i, _)| i));
    for a in [
        Attachment::new(field, Some(name.to_owned()), None, Vec::new()),
        Attachment::new(name, None, None, Vec::new()),
    ] {
        let s = a.safe_filename();
        assert!(!s.is_empty(), "{name:?}");
        assert!(s.len() <= 255, "{name:?}");
        assert!(!is_device_name(&s), "{name:?} -> {s:?}");
        assert!(!s.contains(['/', '\\', ':']) && !s.contains(".."), "{name:?} -> {s:?}");
        assert!(!s.chars().any(char::is_control), "{name:?} -> {s:?}");
        assert!(!s.starts_with('.') && !s.ends_with(['.', ' ']), "{name:?} -> {s:?}");
        let again = Attachment::new("f", Some(s.clone()), None, Vec::new()).safe_filename();
        assert_eq!(again, s);
    }
});
