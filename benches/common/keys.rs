//! Distinct keys for the store benchmarks, formatted without allocating.

/// Formats distinct keys without allocating: `evt_` and 16 hex digits.
pub(crate) struct Keys([u8; 20]);

impl Keys {
    pub(crate) fn new() -> Self {
        let mut buf = [b'0'; 20];
        buf[..4].copy_from_slice(b"evt_");
        Self(buf)
    }

    /// The key of number `n`.
    pub(crate) fn get(&mut self, n: u64) -> &str {
        for (i, byte) in self.0[4..].iter_mut().enumerate() {
            *byte = b"0123456789abcdef"[((n >> (60 - 4 * i)) & 0xf) as usize];
        }
        std::str::from_utf8(&self.0).expect("ascii")
    }
}
