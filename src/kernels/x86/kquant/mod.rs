//! The K-quants (Q4_K, Q5_K, Q6_K) on the GGUF layout: super-blocks
//! unpacked (`unpack`) for the register tiles (`tiles`, every K-quant) and,
//! for Q4_K decode rows, four columns at a time (`gemv`). Their repacked
//! forms for many rows are in `x86::packed`.

pub mod gemv;
pub mod tiles;
pub mod unpack;

/// Which K-quant a `tiles` chunk runs.
pub const Q4K: u8 = 4;
pub const Q5K: u8 = 5;
pub const Q6K: u8 = 6;
