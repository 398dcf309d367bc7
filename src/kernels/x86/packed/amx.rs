//! Q4_K on AMX (Intel Sapphire Rapids and later): `tdpbsud` multiplies a
//! 16-position x 64-weight tile of activations by a 64-weight x 16-column tile
//! of weights in one instruction, eight times the integer work of a
//! `vpdpbusd` per cycle.
//!
//! The catch is Q4_K's scales: every 32 weights of a column have their own
//! 6-bit scale, and a tile's i32 sums cannot be scaled per 32 weights without
//! storing them every 32 weights. So the weights go in already scaled, in two
//! tiles whose products each fit a byte: q * (scale & 15) and q * (scale >> 4)
//! (at most 15 x 15 = 225), whose sums over a whole super-block combine as
//! lo + 16 hi. The minimum terms run on AVX-512 (`vpdpwssd` on the activation
//! sums) while the tiles multiply. The integers are the packed VNNI kernel's
//! (`avx512`) and the f32 steps its one-row order, so the results are
//! bit-identical to every other Q4_K kernel.
//!
//! The weights of a column chunk are repacked so once per call (two bytes per
//! weight, in a per-thread scratch) and reused by every position: it pays for
//! prompts and decode batches of 16 rows or more; fewer rows, and sequences in
//! llama.cpp's batched order (fused per 64 weights), stay on `avx512`. Where
//! the VNNI kernel's packed copy is kept (`kernels::kept`), the tiles are made
//! from it, which skips the unpacking of the GGUF blocks.

use std::arch::asm;
use std::sync::OnceLock;

use super::avx512::{pack as pack16, Packed16};
use super::*;

/// Columns per group and positions per tile: a tile's 16 rows of 64 bytes.
const TILE: usize = 16;

/// Rows from which a Q4_K matmul in the one-row order (a prompt, or a decode
/// batch this big) runs here: at 16 rows the tiles, repacking included, are
/// as fast as the VNNI kernel (1.5B shapes, model 207, 2 threads: 0.95-1.15x),
/// and from 32 they pull ahead; below 16 a tile would be mostly empty.
const MIN_ROWS: usize = 16;

/// The same when the VNNI kernel's packed copy is kept (`kernels::kept`; the
/// tiles are made from it per call): from 24 rows (model 207, 2 threads, the
/// 1.5B's Q4_K shapes, the kept VNNI tiles against these: 1.0x at 16 rows,
/// 1.10-1.17x at 24, 1.19-1.30x at 32). A tile pair at 17-23 rows costs about
/// what it does at 24, and there VNNI still keeps up.
const MIN_ROWS_KEPT: usize = 24;

/// The two weight tiles of each 64 weights: q times the scale's low four
/// bits, and q times its high two bits.
const LO: usize = 0;
const HI: usize = 1;

/// One super-block of 16 columns as AMX B tiles.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct PackedAmx {
    /// `b[v][h]`: tile v (`LO`, `HI`) of weights 64h..64h+64; row r holds
    /// column l's weights 64h+4r..64h+4r+4 in bytes 4l..4l+4 (the VNNI layout
    /// `tdpbsud` reads its second source in).
    b: [[[u8; 64 * TILE]; 4]; 2],
    /// As `Packed16::mins`: the minimum terms run on AVX-512 (`vpdpwssd` on
    /// the activations' sums), leaving the tile registers to the products.
    mins: [__m512i; 4],
    d: [f32; TILE],
    dmin: [f32; TILE],
}

thread_local! {
    static SCRATCH: Scratch<PackedAmx> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether this process may run AMX: the CPU has AMX-TILE and AMX-INT8 and
/// the kernel grants the tile data state (Linux asks each process to request
/// it: 8 KB more to save on every context switch).
pub fn usable() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        // Leaf 7 exists on every CPU with AVX2, which the caller checked first.
        let leaf7 = __cpuid_count(7, 0);
        let (tile, int8) = (leaf7.edx & (1 << 24) != 0, leaf7.edx & (1 << 25) != 0);
        tile && int8 && request_tile_data()
    })
}

#[cfg(target_os = "linux")]
fn request_tile_data() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with these arguments only changes this process's
    // permission to use the AMX state; it reads and writes no memory.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

#[cfg(not(target_os = "linux"))]
fn request_tile_data() -> bool {
    false
}

/// The tile palette for two tiles of positions, `rows[0]` and `rows[1]`
/// (1..=16; 0: no second tile): tmm0-1 the first's sums (`LO`, `HI`, 16 i32
/// per position), tmm2-3 the second's, tmm4-5 their activations (64 bytes
/// per position), tmm6-7 the weight tiles (16 x 64 bytes). Each weight tile
/// serves both position tiles: loads, not multiplies, are what AMX waits on.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn new(rows: [usize; 2]) -> Self {
        let mut c = [0u8; 64];
        c[0] = 1; // palette 1
        let tiles = [
            rows[0], rows[0], rows[1], rows[1], rows[0], rows[1], TILE, TILE,
        ];
        for (t, rows) in tiles.into_iter().enumerate() {
            if rows > 0 {
                c[16 + 2 * t] = 64; // bytes per row (u16, little-endian)
                c[48 + t] = rows as u8;
            }
        }
        Self(c)
    }

    /// # Safety
    /// AMX is `usable`.
    unsafe fn load(&self) {
        // SAFETY: a valid palette-1 configuration (64 aligned bytes).
        unsafe { asm!("ldtilecfg [{}]", in(reg) self.0.as_ptr(), options(nostack, readonly)) }
    }
}

/// Products of bytes whose products fit a byte (both at most 15).
#[inline(always)]
unsafe fn mul_bytes(a: __m512i, b: __m512i) -> __m512i {
    // SAFETY: register operations; AVX-512 BW is available to every caller.
    unsafe {
        let low = _mm512_set1_epi16(0xff);
        let even = _mm512_and_si512(_mm512_mullo_epi16(a, b), low);
        let odd = _mm512_mullo_epi16(_mm512_srli_epi16(a, 8), _mm512_srli_epi16(b, 8));
        _mm512_or_si512(even, _mm512_slli_epi16(odd, 8))
    }
}

/// Packs `cols` (1..=16) weight rows starting at `w` (the rest as zeros) into
/// `out`, one `PackedAmx` per super-block, through the VNNI kernel's packing.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
unsafe fn pack(w: *const u8, row_bytes: usize, cols: usize, out: &mut [PackedAmx]) {
    // SAFETY: `w` addresses `cols` whole rows of `out.len()` super-blocks;
    // the target features are available.
    unsafe {
        let mut one: [Packed16; 1] = std::mem::zeroed();
        for (i, p) in out.iter_mut().enumerate() {
            pack16(w.add(i * Q4_K_BYTES), row_bytes, cols, &mut one);
            from16(&one[0], p);
        }
    }
}

/// One super-block of the VNNI kernel's packing (`b`) as AMX tiles (`p`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
unsafe fn from16(b: &Packed16, p: &mut PackedAmx) {
    // SAFETY: register operations and stores within `p`; the target
    // features are available.
    unsafe {
        let m4 = _mm512_set1_epi8(0xf);
        // byte 0 of each i32 lane into all four of its bytes (the same in
        // every 128-bit lane, where `vpshufb` works)
        let byte0 =
            _mm512_broadcast_i32x4(_mm_setr_epi32(0, 0x0404_0404, 0x0808_0808, 0x0c0c_0c0c));
        let base = p.b.as_mut_ptr() as *mut u8;
        for h in 0..4 {
            for half in 0..2 {
                let sc = b.sc[2 * h + half];
                let lo = _mm512_shuffle_epi8(_mm512_and_si512(sc, m4), byte0);
                let hi = _mm512_shuffle_epi8(_mm512_srli_epi32(sc, 4), byte0);
                for c in 0..8 {
                    let raw = b.q[h][c];
                    let q = if half == 0 {
                        _mm512_and_si512(raw, m4)
                    } else {
                        _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4)
                    };
                    let at = 64 * (8 * half + c);
                    let row = |v: usize| base.add((4 * v + h) * 64 * TILE + at) as *mut __m512i;
                    _mm512_storeu_si512(row(LO), mul_bytes(q, lo));
                    _mm512_storeu_si512(row(HI), mul_bytes(q, hi));
                }
            }
        }
        p.mins = b.mins;
        _mm512_storeu_ps(p.d.as_mut_ptr(), b.d);
        _mm512_storeu_ps(p.dmin.as_mut_ptr(), b.dmin);
    }
}

/// The tiles' i32 sums of one super-block (`[tile][LO/HI][position]`),
/// stored for the f32 steps.
#[repr(C, align(64))]
struct Sums([[[[i32; TILE]; TILE]; 2]; 2]);

/// Two tiles of `rows[0]` and `rows[1]` positions (the second 16 rows
/// after the first; `rows[1]` may be 0) of one super-block: `x` is the first
/// position's `qs`, `stride` bytes from one position's to the next's. Leaves
/// their i32 sums in `sums`. The tiles are configured for `rows`.
#[inline(always)]
unsafe fn multiply(b: &PackedAmx, x: *const i8, stride: usize, rows: [usize; 2], sums: &mut Sums) {
    // SAFETY: `x` addresses `rows[0] + rows[1]` positions' 256 bytes at
    // `stride`; AMX is usable and configured for `rows` (the caller's contract).
    unsafe {
        let w = 64usize;
        let second = rows[1] > 0;
        asm!("tilezero tmm0", "tilezero tmm1", options(nostack, nomem));
        if second {
            asm!("tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
        }
        for h in 0..4 {
            let (x0, lo, hi) = (x.add(64 * h), b.b[LO][h].as_ptr(), b.b[HI][h].as_ptr());
            asm!(
                "tileloadd tmm4, [{x0} + {stride}*1]",
                "tileloadd tmm6, [{lo} + {w}*1]",
                "tdpbsud tmm0, tmm4, tmm6",
                "tileloadd tmm7, [{hi} + {w}*1]",
                "tdpbsud tmm1, tmm4, tmm7",
                x0 = in(reg) x0, stride = in(reg) stride, lo = in(reg) lo, hi = in(reg) hi,
                w = in(reg) w, options(nostack, readonly)
            );
            if second {
                asm!(
                    "tileloadd tmm5, [{x1} + {stride}*1]",
                    "tdpbsud tmm2, tmm5, tmm6",
                    "tdpbsud tmm3, tmm5, tmm7",
                    x1 = in(reg) x0.add(TILE * stride), stride = in(reg) stride,
                    options(nostack, readonly)
                );
            }
        }
        let s = &mut sums.0;
        asm!(
            "tilestored [{lo} + {w}*1], tmm0",
            "tilestored [{hi} + {w}*1], tmm1",
            lo = in(reg) s[0][LO].as_mut_ptr(), hi = in(reg) s[0][HI].as_mut_ptr(),
            w = in(reg) w, options(nostack)
        );
        if second {
            asm!(
                "tilestored [{lo} + {w}*1], tmm2",
                "tilestored [{hi} + {w}*1], tmm3",
                lo = in(reg) s[1][LO].as_mut_ptr(), hi = in(reg) s[1][HI].as_mut_ptr(),
                w = in(reg) w, options(nostack)
            );
        }
    }
}

/// One super-block's f32 steps for `n` positions, in `avx512::tile`'s
/// one-row order: `y(t)` is position t's activation block and `pairs[t]` its
/// [`group_sums`], `acc[t]` and `acc_m[t]` its 16 columns' running sums and
/// minimum terms.
#[inline(always)]
unsafe fn accumulate<'a>(
    b: &PackedAmx,
    sums: &Sums,
    n: usize,
    y: impl Fn(usize) -> &'a BlockQ8K,
    pairs: &[[i32; 4]],
    acc: &mut [[f32; TILE]],
    acc_m: &mut [[f32; TILE]],
) {
    // SAFETY: register and in-bounds memory operations (`sums` rows
    // 0..n, `pairs`, `acc` and `acc_m` have n rows); AVX-512 F, BW and VNNI
    // are available to every caller.
    unsafe {
        let (d, dmin) = (
            _mm512_loadu_ps(b.d.as_ptr()),
            _mm512_loadu_ps(b.dmin.as_ptr()),
        );
        for t in 0..n {
            let load =
                |v: usize| _mm512_load_si512(sums.0[t / TILE][v][t % TILE].as_ptr() as *const _);
            let s = _mm512_add_epi32(load(LO), _mm512_slli_epi32(load(HI), 4));
            // These steps, not the tiles, are the kernel's bound: the
            // activation sums are paired once per super-block, not per group.
            let m = min_terms(&b.mins, &pairs[t]);
            let yd = _mm512_set1_ps(y(t).d);
            let (dd, dm) = (_mm512_mul_ps(d, yd), _mm512_mul_ps(dmin, yd));
            let (a, am) = (acc[t].as_mut_ptr(), acc_m[t].as_mut_ptr());
            _mm512_storeu_ps(
                a,
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), dd, _mm512_loadu_ps(a)),
            );
            let mf = _mm512_cvtepi32_ps(m);
            _mm512_storeu_ps(am, _mm512_fmadd_ps(mf, dm, _mm512_loadu_ps(am)));
        }
    }
}

/// The minimum terms of one position: the i16 pair products of `mins[k]`
/// and `pairs[k]` (in every lane), summed, as four `vpdpwssd` with their
/// broadcasts from memory (the intrinsics compile to a broadcast, `vpmaddwd`
/// and `vpaddd` each).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
unsafe fn min_terms(mins: &[__m512i; 4], pairs: &[i32; 4]) -> __m512i {
    let mut m = _mm512_setzero_si512();
    // SAFETY: reads the four i32 of `pairs`; AVX-512 VNNI is available.
    unsafe {
        asm!(
            "vpdpwssd {m}, {a0}, dword ptr [{p}]{{1to16}}",
            "vpdpwssd {m}, {a1}, dword ptr [{p} + 4]{{1to16}}",
            "vpdpwssd {m}, {a2}, dword ptr [{p} + 8]{{1to16}}",
            "vpdpwssd {m}, {a3}, dword ptr [{p} + 12]{{1to16}}",
            m = inout(zmm_reg) m,
            a0 = in(zmm_reg) mins[0], a1 = in(zmm_reg) mins[1],
            a2 = in(zmm_reg) mins[2], a3 = in(zmm_reg) mins[3],
            p = in(reg) pairs.as_ptr(),
            options(nostack, readonly, pure)
        );
    }
    m
}

/// An activation block's sums of each 32 as the i16 pairs (2k, 2k+1) of 4
/// i32s (`avx512::tile`'s `bs`).
#[inline(always)]
unsafe fn group_sums(y: &BlockQ8K) -> [i32; 4] {
    // SAFETY: `bsums` is 32 bytes; AVX2 is available to every caller.
    unsafe {
        let v = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
        let h = _mm_hadd_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        std::mem::transmute(h)
    }
}

/// Positions per block: their activations (a super-block's 256 bytes each)
/// and one super-block of the chunk's packed groups stay in L1 while every
/// group runs over them; AMX waits on loads from anything farther.
const BLOCK: usize = 4 * TILE;

/// Positions `r0..r0+n` against the chunk's packed groups (`packed`: `nb`
/// super-blocks per group; group `gi`'s columns at `c0 + 16 gi`, `cols[gi]`
/// of them), every pair of tiles configured for `rows` (n = a multiple of
/// `rows[0] + rows[1]`). Super-blocks outermost, so the block's data of one
/// super-block is reused from L1 by every group.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
unsafe fn block(
    job: &Job<BlockQ8K>,
    packed: &[PackedAmx],
    c0: usize,
    cols: &[usize],
    r0: usize,
    n: usize,
    rows: [usize; 2],
) {
    // SAFETY: rows r0..r0+n exist, `packed` has `nb` entries per group; AMX
    // is usable and configured for `rows`; the target features are available.
    unsafe {
        let nb = job.nb;
        let stride = nb * std::mem::size_of::<BlockQ8K>();
        let pair = rows[0] + rows[1];
        let mut acc = vec![[0f32; TILE]; cols.len() * n];
        let mut acc_m = vec![[0f32; TILE]; cols.len() * n];
        let mut sums = [
            Sums([[[[0; TILE]; TILE]; 2]; 2]),
            Sums([[[[0; TILE]; TILE]; 2]; 2]),
        ];
        let a = job.acts.as_ptr().add(r0 * nb);
        let y = |t: usize, i: usize| &*a.add(t * nb + i);
        let mut pairs = [[0i32; 4]; BLOCK];
        for i in 0..nb {
            // Once per super-block, not per group.
            for (t, p) in pairs[..n].iter_mut().enumerate() {
                *p = group_sums(y(t, i));
            }
            for gi in 0..cols.len() {
                let b = &packed[gi * nb + i];
                // Each pair of tiles is multiplied before the previous pair's
                // f32 steps run (two buffers of sums), so the tiles and the
                // vector units work at once.
                let mut previous: Option<usize> = None;
                for (k, p) in (0..n).step_by(pair).chain([n]).enumerate() {
                    if p < n {
                        multiply(b, y(p, i).qs.as_ptr(), stride, rows, &mut sums[k % 2]);
                    }
                    if let Some(q) = previous {
                        let at = gi * n + q;
                        accumulate(
                            b,
                            &sums[(k + 1) % 2],
                            pair,
                            |t| y(q + t, i),
                            &pairs[q..q + pair],
                            &mut acc[at..at + pair],
                            &mut acc_m[at..at + pair],
                        );
                    }
                    previous = Some(p);
                }
            }
        }
        for (gi, &cols) in cols.iter().enumerate() {
            let out: Vec<[f32; TILE]> = (gi * n..(gi + 1) * n)
                .map(|t| {
                    std::mem::transmute(_mm512_sub_ps(
                        _mm512_loadu_ps(acc[t].as_ptr()),
                        _mm512_loadu_ps(acc_m[t].as_ptr()),
                    ))
                })
                .collect();
            store(job, &out, r0, c0 + TILE * gi, cols);
        }
    }
}

/// Q4_K columns `c0..c1` for all rows: on AMX for one-row-order jobs of `MIN_ROWS` or
/// more positions, else the AVX-512 VNNI kernels.
///
/// # Safety
/// AMX is `usable`, and AVX-512 F, VL, BW and VNNI (and AVX2, FMA, F16C) are
/// available; `job` holds Q4_K weights.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
pub unsafe fn chunk_q4k(job: &Job<BlockQ8K>, c0: usize, c1: usize) {
    // SAFETY: as this fn's contract; pointers stay within `job`'s slices.
    unsafe {
        let min_rows = if job.kept.is_some() {
            MIN_ROWS_KEPT
        } else {
            MIN_ROWS
        };
        if !job.independent || job.m < min_rows {
            return super::avx512::chunk_q4k(job, c0, c1);
        }
        let nb = job.nb;
        let cols: Vec<usize> = (c0..c1).step_by(TILE).map(|g| (c1 - g).min(TILE)).collect();
        SCRATCH.with_borrow_mut(|scratch| {
            // Grown only, as the parent's scratch.
            if scratch.len() < cols.len() * nb {
                // SAFETY: bytes, vectors and floats: all-zero bytes are valid.
                scratch.resize(cols.len() * nb, std::mem::zeroed());
            }
            let packed = &mut scratch[..cols.len() * nb];
            for (gi, &n) in cols.iter().enumerate() {
                let g = c0 + TILE * gi;
                let out = &mut packed[gi * nb..(gi + 1) * nb];
                // From the VNNI kernel's kept copy when there is one: the
                // tiles' scaled bytes are then all that is made per call.
                match super::avx512::kept_group(job, g, n) {
                    Some(kept) => kept.iter().zip(out).for_each(|(b, p)| from16(b, p)),
                    None => pack(job.w.as_ptr().add(g * job.row_bytes), job.row_bytes, n, out),
                }
            }
            let whole = job.m - job.m % (2 * TILE);
            let mut r0 = 0;
            if whole > 0 {
                TileConfig::new([TILE, TILE]).load();
                while r0 < whole {
                    let n = (whole - r0).min(BLOCK);
                    block(job, packed, c0, &cols, r0, n, [TILE, TILE]);
                    r0 += n;
                }
            }
            if r0 < job.m {
                let left = job.m - r0;
                let rows = [left.min(TILE), left.saturating_sub(TILE)];
                TileConfig::new(rows).load();
                block(job, packed, c0, &cols, r0, left, rows);
            }
        });
        // Back to the init state: a context switch then saves no tile data.
        asm!("tilerelease", options(nostack, nomem));
    }
}

/// The roofline's AMX loop (`kernels::peak`): four independent accumulator
/// tiles of `tdpbsud` on full 16 x 64-byte tiles; returns a sum so nothing
/// is dropped.
///
/// # Safety
/// AMX is `usable`.
pub(in crate::kernels) unsafe fn tdpbsud(iters: usize) -> i32 {
    let (a, b) = ([3u8; 64 * TILE], [2u8; 64 * TILE]);
    let mut out = Sums([[[[0; TILE]; TILE]; 2]; 2]);
    // SAFETY: AMX is usable (this fn's contract); the tiles are configured
    // before use and released after; loads and the store address whole tiles.
    unsafe {
        TileConfig::new([TILE, TILE]).load();
        asm!(
            "tileloadd tmm4, [{a} + {w}*1]",
            "tileloadd tmm6, [{b} + {w}*1]",
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            a = in(reg) a.as_ptr(),
            b = in(reg) b.as_ptr(),
            w = in(reg) 64usize,
            options(nostack, readonly)
        );
        for _ in 0..iters {
            asm!(
                "tdpbsud tmm0, tmm4, tmm6",
                "tdpbsud tmm1, tmm4, tmm6",
                "tdpbsud tmm2, tmm4, tmm6",
                "tdpbsud tmm3, tmm4, tmm6",
                options(nostack, nomem)
            );
        }
        asm!(
            "tilestored [{o} + {w}*1], tmm0",
            "tilerelease",
            o = in(reg) out.0[0][0].as_mut_ptr(),
            w = in(reg) 64usize,
            options(nostack)
        );
    }
    out.0[0][0][0][0]
}
