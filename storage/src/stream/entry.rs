//! The on-disk encoding of one stream entry's field/value pairs:
//! `varint count ‖ (varint len ‖ bytes)*` over the flat list `f1 v1 f2 v2 …`.
//!
//! Decoding never trusts the disk: a truncated or malformed value is an error, not a panic.

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint from the front of `buf`, advancing it.
#[inline]
pub fn get_varint(buf: &mut &[u8]) -> Option<u64> {
    // One byte: by far the common case inside runs (ID deltas, small lengths).
    if let Some((&b, rest)) = buf.split_first() {
        if b & 0x80 == 0 {
            *buf = rest;
            return Some(u64::from(b));
        }
    }
    get_varint_slow(buf)
}

fn get_varint_slow(buf: &mut &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Encodes a flat field/value list.
pub fn encode<T: AsRef<[u8]>>(items: &[T]) -> Vec<u8> {
    let size: usize = items.iter().map(|i| i.as_ref().len() + 2).sum::<usize>() + 4;
    let mut out = Vec::with_capacity(size);
    put_varint(&mut out, items.len() as u64);
    for i in items {
        put_varint(&mut out, i.as_ref().len() as u64);
        out.extend_from_slice(i.as_ref());
    }
    out
}

/// Decodes into slices of `raw`; `None` if `raw` is malformed.
pub fn decode(raw: &[u8]) -> Option<Vec<&[u8]>> {
    let mut buf = raw;
    let n = get_varint(&mut buf)?;
    // Each item takes at least one byte: a count larger than the rest is corrupt.
    if n > buf.len() as u64 {
        return None;
    }
    let mut items = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let len = usize::try_from(get_varint(&mut buf)?).ok()?;
        if len > buf.len() {
            return None;
        }
        let (item, rest) = buf.split_at(len);
        items.push(item);
        buf = rest;
    }
    buf.is_empty().then_some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_truncation() {
        let items: Vec<Vec<u8>> = vec![b"f".to_vec(), vec![], vec![0u8; 300], b"\r\n\0".to_vec()];
        let raw = encode(&items);
        let back = decode(&raw).expect("decode");
        assert_eq!(back, items.iter().map(|i| i.as_slice()).collect::<Vec<_>>());
        for cut in 0..raw.len() {
            assert!(decode(&raw[..cut]).is_none(), "truncated at {cut}");
        }
        let mut longer = raw.clone();
        longer.push(0);
        assert!(decode(&longer).is_none());
        assert!(decode(&[0xff; 11]).is_none());
    }
}
