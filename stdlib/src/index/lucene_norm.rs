//! Lucene's lossy one-byte document length (`SmallFloat.intToByte4`), which its
//! BM25 uses in place of the exact length. Reproducing it is what makes scores,
//! and so rankings, equal Anserini's.

/// Values below this are stored exactly.
const NUM_FREE_VALUES: u32 = 255 - long_to_int4(i32::MAX as u64);

/// A 4-bit mantissa, 4-bit exponent float of `i`.
const fn long_to_int4(i: u64) -> u32 {
    let bits = 64 - i.leading_zeros();
    if bits < 4 {
        return i as u32;
    }
    let shift = bits - 4;
    // The leading one is implicit; keep the next three bits.
    let mantissa = ((i >> shift) & 0x07) as u32;
    mantissa | ((shift + 1) << 3)
}

fn int4_to_long(i: u32) -> u64 {
    let bits = (i & 0x07) as u64;
    match (i >> 3) as i64 - 1 {
        -1 => bits,
        shift => (bits | 0x08) << shift,
    }
}

/// The byte Lucene stores for a field of `length` tokens.
pub fn encode_length(length: u32) -> u8 {
    if length < NUM_FREE_VALUES {
        length as u8
    } else {
        (NUM_FREE_VALUES + long_to_int4((length - NUM_FREE_VALUES) as u64)) as u8
    }
}

/// The length Lucene's BM25 uses for a stored byte.
pub fn decode_length(byte: u8) -> u32 {
    let i = byte as u32;
    if i < NUM_FREE_VALUES {
        i
    } else {
        (NUM_FREE_VALUES as u64 + int4_to_long(i - NUM_FREE_VALUES)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_lengths_exact_large_ones_rounded_down() {
        assert_eq!(NUM_FREE_VALUES, 24);
        for n in 0..24 {
            assert_eq!(decode_length(encode_length(n)), n);
        }
        // Above 24, four significant bits: 100 = 24 + 0b1001100 → 24 + 0b1001000.
        assert_eq!(decode_length(encode_length(100)), 96);
        assert_eq!(decode_length(encode_length(1000)), 984);
        // Monotone, never above the true length.
        let mut last = 0;
        for n in 0..100_000u32 {
            let d = decode_length(encode_length(n));
            assert!(d <= n && d >= last);
            last = d;
        }
        assert_eq!(encode_length(u32::MAX >> 1), 255);
    }
}
