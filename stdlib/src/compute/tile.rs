//! What the low-precision micro-kernels share: the dispatch from a row count to
//! a const-generic tile, and the store masks of a partial panel.

/// The store mask of the first `cols` lanes of a 16-lane vector (all at 16 or more).
pub(crate) fn half_mask(cols: usize) -> u16 {
    if cols >= 16 {
        u16::MAX
    } else {
        ((1u32 << cols) - 1) as u16
    }
}

/// Calls `$tile::<R>($args)` with `R = $rows` (1 ..= 12, where 12 is `$max`):
/// the accumulators of a tile are an array sized at compile time, so that they
/// stay in registers.
#[macro_export]
#[doc(hidden)]
macro_rules! by_row_count {
    ($rows:expr, $max:ident, $tile:ident, ($($arg:expr),*)) => {
        match $rows {
            1 => $tile::<1>($($arg),*),
            2 => $tile::<2>($($arg),*),
            3 => $tile::<3>($($arg),*),
            4 => $tile::<4>($($arg),*),
            5 => $tile::<5>($($arg),*),
            6 => $tile::<6>($($arg),*),
            7 => $tile::<7>($($arg),*),
            8 => $tile::<8>($($arg),*),
            9 => $tile::<9>($($arg),*),
            10 => $tile::<10>($($arg),*),
            11 => $tile::<11>($($arg),*),
            _ => $tile::<$max>($($arg),*),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_cover_exactly_the_columns() {
        assert_eq!(half_mask(0), 0);
        assert_eq!(half_mask(1), 1);
        assert_eq!(half_mask(15), 0x7fff);
        assert_eq!(half_mask(16), 0xffff);
        assert_eq!(half_mask(40), 0xffff);
    }
}
