//! Valid gzip bytes without a compression crate: DEFLATE stored blocks plus CRC-32.

/// The CRC-32 (IEEE, reflected, polynomial `0xEDB88320`) lookup table.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The CRC-32 used by gzip and zip: `crc32(b"123456789") == 0xCBF43926`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

/// Largest payload of one stored DEFLATE block.
const MAX_STORED: usize = 0xFFFF;

/// `data` as one gzip member (RFC 1952) whose DEFLATE stream (RFC 1951) is only stored
/// (uncompressed, `BTYPE=00`) blocks of at most 65535 bytes; any gzip decoder accepts it.
///
/// Layout: `1f 8b 08 00`, mtime 0, XFL 0, OS 255; then per block one header byte (`BFINAL` in
/// bit 0, `BTYPE=00`, padded to the byte), `LEN` and `NLEN = !LEN` (little endian) and the bytes;
/// then CRC-32 and ISIZE (length mod 2^32), little endian.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let blocks = data.len().div_ceil(MAX_STORED).max(1);
    let mut out = Vec::with_capacity(10 + blocks * 5 + data.len() + 8);
    out.extend_from_slice(&[0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);
    let mut pieces = data.chunks(MAX_STORED).peekable();
    if pieces.peek().is_none() {
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
    }
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        out.push(u8::from(last));
        // `chunks(MAX_STORED)` guarantees the length fits 16 bits.
        let len = u16::try_from(piece.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(piece);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    // ISIZE is the input length modulo 2^32: the truncation is the format.
    out.extend_from_slice(&((data.len() as u64 & 0xFFFF_FFFF) as u32).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::{crc32, gzip_stored};

    #[test]
    fn crc_known_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn small_member_layout() {
        let data = b"data: hi\n\n";
        let gz = gzip_stored(data);
        assert_eq!(&gz[..3], &[0x1f, 0x8b, 0x08]);
        assert_eq!(gz[3], 0, "no optional fields");
        assert_eq!(gz[10], 0x01, "one final stored block");
        assert_eq!(u16::from_le_bytes([gz[11], gz[12]]), 10);
        assert_eq!(u16::from_le_bytes([gz[13], gz[14]]), !10u16);
        assert_eq!(&gz[15..25], data);
        let n = gz.len();
        assert_eq!(n, 10 + 5 + data.len() + 8);
        let crc = u32::from_le_bytes([gz[n - 8], gz[n - 7], gz[n - 6], gz[n - 5]]);
        assert_eq!(crc, crc32(data));
        let isize = u32::from_le_bytes([gz[n - 4], gz[n - 3], gz[n - 2], gz[n - 1]]);
        assert_eq!(isize, 10);
    }

    #[test]
    fn known_crc_in_trailer_and_empty_input() {
        let gz = gzip_stored(b"123456789");
        let n = gz.len();
        assert_eq!(&gz[n - 8..n - 4], &0xCBF4_3926u32.to_le_bytes());
        assert_eq!(&gz[n - 4..], &9u32.to_le_bytes());
        let empty = gzip_stored(b"");
        assert_eq!(&empty[10..15], &[0x01, 0x00, 0x00, 0xff, 0xff]);
        assert_eq!(&empty[15..], &[0u8; 8]);
    }

    #[test]
    fn large_input_splits_into_blocks() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let gz = gzip_stored(&data);
        assert_eq!(gz[10], 0x00, "first block is not final");
        assert_eq!(u16::from_le_bytes([gz[11], gz[12]]), 0xFFFF);
        assert_eq!(u16::from_le_bytes([gz[13], gz[14]]), 0);
        let second = 15 + 0xFFFF;
        assert_eq!(gz[second], 0x01);
        let len2 = u16::from_le_bytes([gz[second + 1], gz[second + 2]]);
        assert_eq!(usize::from(len2), 70_000 - 0xFFFF);
        assert_eq!(
            &gz[second + 5..second + 5 + usize::from(len2)],
            &data[0xFFFF..]
        );
        assert_eq!(gz.len(), 10 + 2 * 5 + data.len() + 8);
    }
}
