//! Shared by the fuzz targets: how a raw input becomes a content type and a body.

/// The content type a body is sent with, inferred as `examples/inspect.rs` does, so that the
/// seed corpus is the payload files themselves: `{` or `[` → JSON, a first line
/// `--BOUNDARY` → multipart with that boundary, anything else → urlencoded.
pub fn content_type(body: &[u8]) -> String {
    let start = body.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(0);
    match body.get(start) {
        Some(b'{') | Some(b'[') => return "application/json".to_owned(),
        _ => {}
    }
    if let Some(rest) = body.strip_prefix(b"--") {
        let end = rest
            .iter()
            .position(|&c| c == b'\r' || c == b'\n')
            .unwrap_or(rest.len())
            .min(70);
        if let Ok(b) = std::str::from_utf8(&rest[..end]) {
            return format!("multipart/form-data; boundary=\"{b}\"");
        }
    }
    "application/x-www-form-urlencoded".to_owned()
}

#[allow(dead_code)] // used by parse_stream only
/// A reproducible sequence of chunk sizes (1..=4096, favouring small ones) for a body.
pub fn chunk_sizes(body: &[u8]) -> impl Iterator<Item = usize> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ body.len() as u64;
    for &b in body.iter().take(16) {
        x = x.rotate_left(5) ^ u64::from(b);
    }
    std::iter::from_fn(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = match x % 4 {
            0 => 1 + (x >> 8) % 4,
            1 => 1 + (x >> 8) % 64,
            2 => 1 + (x >> 8) % 512,
            _ => 1 + (x >> 8) % 4096,
        };
        Some(size as usize)
    })
}
