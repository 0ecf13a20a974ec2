//! Compact little-endian encoding of counter state. A value that does not decode reads as fresh
//! state: a torn or foreign value must never fail a request.

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        let (head, tail) = self.bytes.split_first_chunk::<8>()?;
        self.bytes = tail;
        Some(u64::from_le_bytes(*head))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        let (head, tail) = self.bytes.split_first_chunk::<4>()?;
        self.bytes = tail;
        Some(u32::from_le_bytes(*head))
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        let (head, tail) = self.bytes.split_first_chunk::<2>()?;
        self.bytes = tail;
        Some(u16::from_le_bytes(*head))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

pub(crate) struct Writer {
    bytes: Vec<u8>,
}

/// Room for every fixed-size counter state, so encoding allocates once.
const TYPICAL_STATE_BYTES: usize = 48;

impl Default for Writer {
    fn default() -> Writer {
        Writer { bytes: Vec::with_capacity(TYPICAL_STATE_BYTES) }
    }
}

impl Writer {
    pub(crate) fn u64(mut self, v: u64) -> Writer {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub(crate) fn u32(mut self, v: u32) -> Writer {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub(crate) fn u16(mut self, v: u16) -> Writer {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.bytes
    }
}
