//! Raw answers packed against a base: an earlier whole answer of the same target and config.
//!
//! A nightly answer differs from the night before only in its `RequestId` and scan status, so an
//! LZ4 block that may copy from the base keeps a few dozen bytes of it. A packed answer is the
//! answer's length (4 bytes, little endian) and the block. Unpacking checks the length, so a
//! damaged row gives an error, never a wrong answer or a huge allocation; the row's SHA-256 is
//! checked on top of that by `audit verify`.

use crate::task::fields::MAX_ANSWER_BYTES;

/// The largest answer that is packed; a larger one is stored whole.
pub const MAX_PACKED: usize = MAX_ANSWER_BYTES;

/// Packs `raw` against `base`, or `None` if it is too large to pack.
pub fn pack(raw: &[u8], base: &[u8]) -> Option<Vec<u8>> {
    if raw.len() > MAX_PACKED {
        return None;
    }
    Some(lz4_flex::block::compress_prepend_size_with_dict(raw, base))
}

/// Rebuilds the answer [`pack`] packed against the same `base`.
pub fn unpack(packed: &[u8], base: &[u8]) -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    unpack_into(packed, base, &mut raw)?;
    Ok(raw)
}

/// [`unpack`], appending the answer to `out` (on an error, `out` is left as it was).
pub fn unpack_into(packed: &[u8], base: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let Some((len, block)) = packed.split_first_chunk::<4>() else {
        return Err("the packed answer is shorter than its length prefix".into());
    };
    let len = u32::from_le_bytes(*len) as usize;
    if len > MAX_PACKED {
        return Err(format!(
            "the packed answer claims {len} bytes, more than the {MAX_PACKED} an answer may have"
        ));
    }
    let start = out.len();
    out.resize(start + len, 0);
    let unpacked = match lz4_flex::block::decompress_into_with_dict(block, &mut out[start..], base)
    {
        Ok(n) if n == len => Ok(()),
        Ok(n) => Err(format!(
            "the packed answer unpacks to {n} bytes, not the {len} it claims"
        )),
        Err(e) => Err(format!("the packed answer cannot be unpacked: {e}")),
    };
    if unpacked.is_err() {
        out.truncate(start);
    }
    unpacked
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_nightly_answer_packs_small_against_the_night_before() {
        let base = br#"{"Response":{"All":false,"Enable":true,"Id":[3],"Images":[{"ImageRepoAddress":"ccr.ccs.tencentyun.com/app/svc:v1"}],"LastScanTime":"2026-11-01 03:10:00","RequestId":"0f3c2a9e-1b2c-4d5e-8f90-a1b2c3d4e5f6","ScanPeriod":1,"ScanResult":"success","ScanTime":"03:00:00","ScanType":["vul","risk","virus"]}}"#;
        let next = br#"{"Response":{"All":false,"Enable":true,"Id":[3],"Images":[{"ImageRepoAddress":"ccr.ccs.tencentyun.com/app/svc:v1"}],"LastScanTime":"2026-11-02 03:10:00","RequestId":"7d1e0b44-9a8b-4c7d-9e6f-5a4b3c2d1e0f","ScanPeriod":1,"ScanResult":"success","ScanTime":"03:00:00","ScanType":["vul","risk","virus"]}}"#;
        let packed = pack(next, base).unwrap();
        assert!(
            packed.len() < next.len() / 4,
            "{} of {} bytes",
            packed.len(),
            next.len()
        );
        assert_eq!(unpack(&packed, base).unwrap(), next);
    }

    #[test]
    fn a_failed_unpack_into_leaves_what_was_there() {
        let base = b"{\"Response\":{\"Enable\":true}}";
        let mut short = pack(b"{\"Response\":{\"Enable\":false}}", base).unwrap();
        short[..4].copy_from_slice(&1u32.to_le_bytes());
        let mut out = b"kept".to_vec();
        assert!(unpack_into(&short, base, &mut out).is_err());
        assert_eq!(out, b"kept");
    }

    #[test]
    fn damage_is_an_error_not_a_wrong_answer() {
        let base = b"{\"Response\":{\"Enable\":true}}";
        let packed = pack(b"{\"Response\":{\"Enable\":false}}", base).unwrap();
        let mut huge = packed.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(unpack(&huge, base).unwrap_err().contains("claims"));
        assert!(unpack(&packed[..2], base).is_err());
        let mut short = packed.clone();
        short[..4].copy_from_slice(&1u32.to_le_bytes());
        assert!(unpack(&short, base).is_err());
        // Unpacked against another base it is not the answer, which the raw hash then shows.
        let other = unpack(&packed, b"0123456789abcdefghijklmnopqrstuvwxyz");
        assert_ne!(
            other.ok().as_deref(),
            Some(&b"{\"Response\":{\"Enable\":false}}"[..])
        );
    }

    #[test]
    fn a_base_longer_than_the_lz4_window_still_round_trips() {
        let base: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut raw = base[150_000..190_000].to_vec();
        raw.extend_from_slice(&base[..10_000]);
        raw.extend_from_slice(b"tail");
        let packed = pack(&raw, &base).unwrap();
        assert_eq!(unpack(&packed, &base).unwrap(), raw);
    }

    #[test]
    fn a_too_large_answer_is_not_packed() {
        assert!(pack(&vec![b' '; MAX_PACKED + 1], b"").is_none());
    }

    proptest! {
        #[test]
        fn packing_round_trips(raw in proptest::collection::vec(any::<u8>(), 0..3000),
                               base in proptest::collection::vec(any::<u8>(), 0..3000),
                               shared in 0usize..200) {
            // Share a stretch with the base, as answers do.
            let mut raw = raw;
            let n = shared.min(base.len());
            raw.extend_from_slice(&base[..n]);
            let packed = pack(&raw, &base).unwrap();
            prop_assert_eq!(unpack(&packed, &base).unwrap(), raw);
        }

        #[test]
        fn unpacking_garbage_never_panics(packed in proptest::collection::vec(any::<u8>(), 0..600),
                                          base in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = unpack(&packed, &base);
        }
    }
}
