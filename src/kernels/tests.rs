use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

use super::f16::{f16_to_f32, f32_to_f16, round_f16};
use super::*;

const TYPES: [GgmlDType; 8] = [
    GgmlDType::Q4_0,
    GgmlDType::Q4_1,
    GgmlDType::Q5_0,
    GgmlDType::Q5_1,
    GgmlDType::Q8_0,
    GgmlDType::Q4K,
    GgmlDType::Q5K,
    GgmlDType::Q6K,
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    fn f(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }
}

/// Random blocks of `dtype`: random quant bytes, with the f16 scales
/// overwritten by sane values (random bytes there could be inf/NaN).
fn random_weights(rng: &mut Rng, dtype: GgmlDType, n: usize, k: usize) -> Vec<u8> {
    let bytes = dtype.type_size();
    let mut w: Vec<u8> = (0..n * k / dtype.block_size() * bytes)
        .map(|_| rng.next() as u8)
        .collect();
    // (offset, magnitude) of each f16 field of a block
    let fields: &[(usize, f32)] = match dtype {
        GgmlDType::Q4_0 | GgmlDType::Q5_0 | GgmlDType::Q8_0 => &[(0, 0.01)],
        GgmlDType::Q4_1 | GgmlDType::Q5_1 => &[(0, 0.01), (2, 0.05)],
        GgmlDType::Q4K | GgmlDType::Q5K => &[(0, 0.001), (2, 0.001)],
        GgmlDType::Q6K => &[(208, 0.001)],
        _ => unreachable!(),
    };
    for b in w.chunks_exact_mut(bytes) {
        for &(at, mag) in fields {
            let v = f32_to_f16(rng.f() * mag);
            b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        }
    }
    w
}

fn assert_close(got: &[f32], want: &[f32], rel: f32, what: &str) {
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rel * scale,
            "{what}: [{i}] {g} vs {w} (scale {scale})"
        );
    }
}

fn assert_bits(got: &[f32], want: &[f32], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: [{i}] {g} vs {w}");
    }
}

/// Every ISA there is, weakest first.
const ALL: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni, Isa::Amx];

/// Says on stderr what a test could not cover on this CPU. Written to the
/// stream itself: `eprintln!` would be captured, and shown only on failure.
pub(super) fn skipped(what: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {what}");
}

/// The ISAs this CPU runs, for `test` to cover; the others are named as
/// skipped (an AVX2 machine does not test the AVX-512 kernels).
fn isas(test: &str) -> Vec<Isa> {
    let available = Isa::available();
    let missing: Vec<Isa> = ALL.into_iter().filter(|i| !available.contains(i)).collect();
    if !missing.is_empty() {
        skipped(&format!(
            "{test}: the {missing:?} kernels (this CPU lacks their instructions)"
        ));
    }
    available
}

/// Scales round as F16C (and so ggml) rounds them: pinned values, then every
/// f16 and a wide range of f32s against the F16C instructions, through
/// `half` (which uses them where the CPU has them) and its software form
/// (`*_const`, what CPUs without F16C get).
#[test]
fn f16_conversions_round_trip_and_match_f16c() {
    assert_eq!(round_f16(1.0), 1.0);
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even
    assert_eq!(round_f16(1.0 + 1.0 / 2048.0), 1.0);
    assert_eq!(round_f16(1.0 + 3.0 / 2048.0), 1.0 + 2.0 / 1024.0);
    assert_eq!(round_f16(65504.0), 65504.0);
    assert_eq!(round_f16(65520.0), f32::INFINITY);
    // subnormals step by 2^-24
    assert_eq!(round_f16(3.4e-7), 6.0 / 16_777_216.0);
    assert_eq!(round_f16(-1e-9), 0.0);
    assert_eq!(f32_to_f16(1.0), 0x3c00);
    assert_eq!(f32_to_f16(-2.5), 0xc100);
    assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    assert_eq!(f16_to_f32(0x7bff), 65504.0);
    let soft_to_f16 = |f: f32| half::f16::from_f32_const(f).to_bits();
    let soft_to_f32 = |h: u16| half::f16::from_bits(h).to_f32_const();
    for h in 0..=u16::MAX {
        let f = f16_to_f32(h);
        if !f.is_nan() {
            assert_eq!(f32_to_f16(f), h, "{h:#x} -> {f}");
            assert_eq!(soft_to_f32(h), f, "{h:#x}");
            assert_eq!(soft_to_f16(f), h, "{h:#x} -> {f}");
        }
    }
    #[cfg(target_arch = "x86_64")]
    if Isa::Avx2.is_available() {
        use std::arch::x86_64::*;
        let mut rng = Rng(7);
        for i in 0..100_000 {
            // wide exponent range, subnormals and overflow included
            let f = rng.f() * 2f32.powi((i % 40) - 30);
            // SAFETY: F16C is part of `Isa::Avx2`, checked above.
            let hw = unsafe {
                _mm_extract_epi16::<0>(_mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set1_ps(f)))
            } as u16;
            assert_eq!(f32_to_f16(f), hw, "{f}");
            assert_eq!(soft_to_f16(f), hw, "{f}");
            // SAFETY: as above.
            let wide = unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_set1_epi16(hw as i16))) };
            assert_eq!(f16_to_f32(hw), wide);
            assert_eq!(soft_to_f32(hw), wide);
        }
    } else {
        skipped("f16 conversions against F16C (this CPU lacks it)");
    }
}

#[test]
fn simd_matches_scalar_reference() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for isa in isas("simd_matches_scalar_reference").into_iter().skip(1) {
        for dtype in TYPES {
            // 32-element formats: block counts that aren't multiples of 4 too
            let ks: &[usize] = if dtype.block_size() == 32 {
                &[96, 320, 1024]
            } else {
                &[256, 1024]
            };
            for &k in ks {
                // 18, 33 and 50: enough rows for the packed (and AMX) kernels, with 2,
                // 1 and 2 left over
                for m in [1, 3, 8, 18, 33, 50] {
                    // 4-column tiles plus 1, 2 or 3 columns
                    let n = 37 + m % 3;
                    let w = random_weights(&mut rng, dtype, n, k);
                    let x = rng.vec(m * k);
                    for rows in [Rows::Sequence, Rows::Prompt] {
                        let (mut want, mut got) = (vec![0f32; m * n], vec![0f32; m * n]);
                        matmul_with(Isa::Scalar, dtype, &w, n, k, &x, &mut want, rows).unwrap();
                        matmul_with(isa, dtype, &w, n, k, &x, &mut got, rows).unwrap();
                        let what = format!("{isa:?} {dtype:?} m={m} k={k} {rows:?}");
                        // same integers, same f32 operations in the same order
                        assert_bits(&got, &want, &what);
                    }
                }
            }
        }
    }
}

#[test]
fn matches_candle_qmatmul() {
    let mut rng = Rng(42);
    let dev = Device::Cpu;
    for dtype in TYPES {
        for m in [1, 5] {
            let (n, k) = (67, 512);
            let w = Tensor::from_vec(rng.vec(n * k), (n, k), &dev).unwrap();
            let q = std::sync::Arc::new(QTensor::quantize(&w, dtype).unwrap());
            let x = rng.vec(m * k);
            let xt = Tensor::from_vec(x.clone(), (m, k), &dev).unwrap();
            let want: Vec<f32> = QMatMul::from_arc(q.clone())
                .unwrap()
                .forward(&xt)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let mut got = vec![0f32; m * n];
            matmul(
                dtype,
                &q.data().unwrap(),
                n,
                k,
                &x,
                &mut got,
                Rows::Sequence,
            );
            // Both quantize activations to 8 bits, with slightly different rounding.
            assert_close(&got, &want, 2e-2, &format!("{dtype:?} m={m}"));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn simd_activation_quantization_is_bit_identical() {
    if !Isa::Avx2.is_available() {
        skipped("the AVX2 Q8 quantization (this CPU lacks AVX2, FMA or F16C)");
        return;
    }
    let mut rng = Rng(99);
    let mut x = rng.vec(32 * 64);
    x[64..96].fill(0.0); // an all-zero block
    x[100] = 3.5 * (0.3 / 127.0); // a tie, at some scale
    let zero = BlockQ8 {
        d: 0.,
        s: 0.,
        sum: 0,
        qs: [0; 32],
    };
    let (mut want, mut got) = (vec![zero; 64], vec![zero; 64]);
    quantize::quantize_q8(&x, &mut want);
    x86::quantize_q8(&x, &mut got);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!((w.d, w.s, w.sum, w.qs), (g.d, g.s, g.sum, g.qs));
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn simd_q8k_quantization_is_bit_identical() {
    if !Isa::Avx2.is_available() {
        skipped("the AVX2 Q8_K quantization (this CPU lacks AVX2, FMA or F16C)");
        return;
    }
    let mut rng = Rng(5);
    let mut x = rng.vec(256 * 8);
    x[256..512].fill(0.0); // an all-zero block
    x[600] = 2.0; // largest magnitude twice, opposite signs: the first wins
    x[700] = -2.0;
    let zero = BlockQ8K {
        d: 0.,
        qs: [0; 256],
        bsums: [0; 16],
    };
    let (mut want, mut got) = (vec![zero; 8], vec![zero; 8]);
    quantize::quantize_q8k(&x, &mut want);
    x86::quantize_q8k(&x, &mut got);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!((w.d, w.qs, w.bsums), (g.d, g.qs, g.bsums));
    }
}

#[test]
fn activation_quantization_follows_ggml() {
    let x: Vec<f32> = (0..32).map(|i| i as f32 - 12.7).collect();
    let mut b = [BlockQ8 {
        d: 0.,
        s: 0.,
        sum: 0,
        qs: [0; 32],
    }];
    quantize::quantize_q8(&x, &mut b);
    let amax = 18.3f32;
    assert_eq!(b[0].qs[31], 127);
    assert_eq!(b[0].d, f16_to_f32(f32_to_f16(amax / 127.0)));
    let sum: i32 = b[0].qs.iter().map(|&q| q as i32).sum();
    assert_eq!(b[0].sum, sum);

    let x: Vec<f32> = (0..256).map(|i| (i as f32 - 200.0) / 10.0).collect();
    let mut b = vec![
        BlockQ8K {
            d: 0.,
            qs: [0; 256],
            bsums: [0; 16],
        };
        1
    ];
    quantize::quantize_q8k(&x, &mut b);
    // the largest magnitude maps to -127, whatever its sign
    assert_eq!(b[0].qs[0], -127);
    assert!(b[0].d > 0.0);
    assert_eq!(
        b[0].bsums[0],
        b[0].qs[..16].iter().map(|&q| q as i16).sum::<i16>()
    );
}

/// Every ISA this CPU lacks is refused before any kernel runs: the output is
/// left as it was. (On a CPU with all of them there is nothing to refuse.)
#[test]
fn an_isa_the_cpu_lacks_is_refused_not_run() {
    let available = Isa::available();
    assert!(available.contains(&Isa::Scalar));
    let (n, k) = (4, 32);
    let mut rng = Rng(7);
    let w = random_weights(&mut rng, GgmlDType::Q8_0, n, k);
    let x = rng.vec(k);
    for isa in ALL {
        let mut y = vec![f32::NAN; n];
        let got = matmul_with(isa, GgmlDType::Q8_0, &w, n, k, &x, &mut y, Rows::Sequence);
        if available.contains(&isa) {
            assert_eq!(got, Ok(()));
            assert!(y.iter().all(|v| v.is_finite()), "{isa:?}: {y:?}");
        } else {
            let err = got.unwrap_err();
            assert_eq!(err, UnsupportedIsa(isa));
            assert!(err.to_string().contains(&format!("{isa:?}")), "{err}");
            assert!(y.iter().all(|v| v.is_nan()), "{isa:?} ran: {y:?}");
        }
    }
}

/// A decode batch: each independent row gives, to the bit, what it gives alone
/// (m = 1), for every type, ISA and batch size; so a sequence's tokens do not
/// depend on the others in its batch.
#[test]
fn independent_rows_match_one_row_at_a_time() {
    let isas = isas("independent_rows_match_one_row_at_a_time");
    let mut rng = Rng(0x5eed_1234);
    let (n, k) = (40, 512);
    for dtype in TYPES {
        let w = random_weights(&mut rng, dtype, n, k);
        for &isa in &isas {
            for m in [1, 2, 3, 4, 5, 6, 8, 9, 16] {
                let x = rng.vec(m * k);
                let mut batch = vec![0f32; m * n];
                matmul_with(isa, dtype, &w, n, k, &x, &mut batch, Rows::Independent).unwrap();
                for r in 0..m {
                    let mut one = vec![0f32; n];
                    let row = &x[r * k..(r + 1) * k];
                    matmul_with(isa, dtype, &w, n, k, row, &mut one, Rows::Sequence).unwrap();
                    let what = format!("{dtype:?} {isa:?} m={m} row {r}");
                    assert_bits(&batch[r * n..(r + 1) * n], &one, &what);
                }
            }
        }
    }
}

/// The same on real model shapes, big enough to be split over the thread pool
/// (column chunks then depend on m) and with odd super-block counts.
#[test]
fn independent_rows_match_one_row_on_model_shapes() {
    let isas = isas("independent_rows_match_one_row_on_model_shapes");
    let mut rng = Rng(0xdec0de);
    let shapes = [
        (GgmlDType::Q5_0, 4864, 896),
        (GgmlDType::Q8_0, 896, 4864),
        (GgmlDType::Q4K, 896, 4864),
        (GgmlDType::Q6K, 896, 4864),
        (GgmlDType::Q4_1, 1536, 576),
    ];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    for (dtype, n, k) in shapes {
        let w = random_weights(&mut rng, dtype, n, k);
        for &isa in &isas {
            for m in [2, 3, 5, 8] {
                let x = rng.vec(m * k);
                let mut batch = vec![0f32; m * n];
                pool.install(|| {
                    matmul_with(isa, dtype, &w, n, k, &x, &mut batch, Rows::Independent).unwrap()
                });
                for r in 0..m {
                    let mut one = vec![0f32; n];
                    let row = &x[r * k..(r + 1) * k];
                    pool.install(|| {
                        matmul_with(isa, dtype, &w, n, k, row, &mut one, Rows::Sequence).unwrap()
                    });
                    let what = format!("{dtype:?} {n}x{k} {isa:?} m={m} row {r}");
                    assert_bits(&batch[r * n..(r + 1) * n], &one, &what);
                }
            }
        }
    }
}

/// A prompt row's result does not depend on the rows beside it: in any chunk
/// of `FUSED_ROWS` rows or more it is what it is in any other, and below that
/// it is the one-row result. Fused blocks stay close to ggml's 8 lanes.
#[test]
fn prompt_rows_do_not_depend_on_their_neighbours() {
    let isas = isas("prompt_rows_do_not_depend_on_their_neighbours");
    use super::FUSED_ROWS;
    let mut rng = Rng(0x9e37_79b9);
    let (n, k, m) = (45, 768, 20);
    for dtype in TYPES {
        let w = random_weights(&mut rng, dtype, n, k);
        let x = rng.vec(m * k);
        for &isa in &isas {
            // rows `from..to` of x as one matmul
            let run = |from: usize, to: usize, order: Rows| {
                let mut y = vec![0f32; (to - from) * n];
                matmul_with(isa, dtype, &w, n, k, &x[from * k..to * k], &mut y, order).unwrap();
                y
            };
            let all = run(0, m, Rows::Prompt);
            let rows = |y: &[f32], from: usize, to: usize| y[from * n..to * n].to_vec();
            let what = format!("{dtype:?} {isa:?}");
            for (from, to) in [(0, 9), (10, m), (4, 4 + FUSED_ROWS)] {
                let part = run(from, to, Rows::Prompt);
                assert_bits(
                    &part,
                    &rows(&all, from, to),
                    &format!("{what} rows {from}..{to}"),
                );
            }
            let short = run(0, FUSED_ROWS - 1, Rows::Prompt);
            let lanes = run(0, m, Rows::Independent);
            assert_bits(
                &short,
                &rows(&lanes, 0, FUSED_ROWS - 1),
                &format!("{what} short chunk"),
            );
            assert_close(&all, &lanes, 1e-4, &format!("{what} fused vs lanes"));
        }
    }
}

/// Several matmuls of one input in one region give each what it gives alone,
/// whether they run serially (small) or split over a pool, with parts of every
/// activation format sharing their quantization.
#[test]
fn many_matmuls_of_one_input_match_each_alone() {
    let mut rng = Rng(0x3a11_77ad);
    let k = 512;
    let shapes = [
        (GgmlDType::Q4K, 96),
        (GgmlDType::Q6K, 40),
        (GgmlDType::Q5_0, 56),
        (GgmlDType::Q8_0, 24),
        (GgmlDType::Q4_1, 300),
    ];
    let weights: Vec<Vec<u8>> = shapes
        .iter()
        .map(|&(dtype, n)| random_weights(&mut rng, dtype, n, k))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    for isa in isas("many_matmuls_of_one_input_match_each_alone") {
        for (m, rows) in [
            (1, Rows::Independent),
            (3, Rows::Independent),
            (9, Rows::Prompt),
            (17, Rows::Sequence),
        ] {
            let x = rng.vec(m * k);
            for parts in [&shapes[..2], &shapes[..]] {
                let mut ys: Vec<Vec<f32>> = parts.iter().map(|&(_, n)| vec![0f32; m * n]).collect();
                let mut many: Vec<Part> = parts
                    .iter()
                    .zip(&weights)
                    .zip(&mut ys)
                    .map(|((&(dtype, n), w), y)| Part {
                        dtype,
                        w,
                        n,
                        y,
                        kept: None,
                    })
                    .collect();
                pool.install(|| matmul_many_with(isa, &mut many, k, &x, rows))
                    .unwrap();
                for ((&(dtype, n), w), y) in parts.iter().zip(&weights).zip(&ys) {
                    let mut alone = vec![0f32; m * n];
                    matmul_with(isa, dtype, w, n, k, &x, &mut alone, rows).unwrap();
                    assert_bits(y, &alone, &format!("{dtype:?} {isa:?} m={m} {rows:?}"));
                }
            }
        }
    }
}

/// With packed copies kept (`kept`), every matmul gives the bits it gives
/// without: when the copy is made and when it is reused, at every decode batch
/// and prompt size where the packed kernels take over, on every ISA.
#[test]
fn kept_packed_weights_change_no_result() {
    let mut rng = Rng(0x6b65_7074);
    let (k, n) = (512, 72);
    let w = random_weights(&mut rng, GgmlDType::Q4K, n, k);
    let was = super::kept::keeping();
    super::kept::keep(true);
    for isa in isas("kept_packed_weights_change_no_result") {
        let kept = super::Kept::default();
        // a prompt first (AMX makes the copies there), then decode batches
        for m in [40, 1, 2, 3, 4, 5, 8, 16, 33] {
            let x = rng.vec(m * k);
            let run = |kept: Option<&super::Kept>| {
                let mut y = vec![0f32; m * n];
                let part = Part {
                    dtype: GgmlDType::Q4K,
                    w: &w,
                    n,
                    y: &mut y,
                    kept,
                };
                matmul_many_with(isa, &mut [part], k, &x, Rows::Independent).unwrap();
                y
            };
            // `kept: None` packs per call, as without keeping
            let alone = run(None);
            for pass in ["made", "reused"] {
                assert_bits(&run(Some(&kept)), &alone, &format!("{isa:?} m={m} {pass}"));
            }
        }
        if isa != Isa::Scalar {
            assert!(
                format!("{kept:?}") != "Kept(0 groups)",
                "{isa:?} kept nothing"
            );
        }
    }
    super::kept::keep(was);
}
