//! Throughput of `abridge::kernels::matmul` per ISA on the shapes of
//! Qwen2.5-0.5B and SmolLM2-135M: decode batches (m = 1..32 independent rows,
//! each weight block read once for all of them) and prompts (m = 128 in the
//! one-row and the prompt orders, 512 in the prompt order, m = 64 in the
//! batched one):
//! `cargo bench --bench kernels [-- FILTER]`.

use std::time::Instant;

use abridge::kernels::{kept, matmul_many_with, matmul_with, Isa, Kept, Part, Rows};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

/// CPU seconds used by the whole process: unlike wall time, not inflated
/// when other processes share the cores.
fn cpu_seconds() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: a valid out-pointer; the clock id exists on Linux.
    unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

fn main() {
    // [SHAPE-FILTER [ISA-FILTER]], e.g. `Q5_0 Vnni`
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let filter = args.first();
    let isa_filter = args.get(1);
    let shapes = [
        (GgmlDType::Q5_0, 4864, 896),
        (GgmlDType::Q8_0, 896, 4864),
        (GgmlDType::Q4_1, 1536, 576),
        (GgmlDType::Q4K, 896, 4864),
        (GgmlDType::Q6K, 896, 4864),
        // an lm_head: weights far beyond the caches, decode only
        (GgmlDType::Q8_0, 151936, 896),
        (GgmlDType::Q5_0, 151936, 896),
        (GgmlDType::Q6K, 151936, 1024),
        (GgmlDType::Q4K, 151936, 1024),
        // the 1.5B's ffn_gate/up: beyond L2, within L3
        (GgmlDType::Q4K, 8960, 1536),
        // its attn_q/o and ffn_down (Q4_K in half the layers, Q6_K in the rest)
        (GgmlDType::Q4K, 1536, 1536),
        (GgmlDType::Q4K, 1536, 8960),
        (GgmlDType::Q6K, 1536, 8960),
    ];
    let threads = rayon::current_num_threads();
    for (dtype, n, k) in shapes {
        let name = format!("{dtype:?} {n}x{k}");
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let w = Tensor::from_vec(w, (n, k), &Device::Cpu).unwrap();
        let q = std::sync::Arc::new(QTensor::quantize(&w, dtype).unwrap());
        let data = q.data().unwrap();
        let candle = QMatMul::from_arc(q.clone()).unwrap();
        // m = 1..16: a decode batch (one row per sequence); 128: a prompt in
        // the one-row order and in the prompt order (Qwen, Llama: 32-element
        // formats fused per block), 512 (a whole prefill chunk) in the latter;
        // 64: a prompt in the batched order (gemma).
        for (m, rows) in [
            (1, Rows::Independent),
            (2, Rows::Independent),
            (4, Rows::Independent),
            (5, Rows::Independent),
            (6, Rows::Independent),
            (8, Rows::Independent),
            (16, Rows::Independent),
            (24, Rows::Independent),
            (32, Rows::Independent),
            (128, Rows::Independent),
            (128, Rows::Prompt),
            (512, Rows::Prompt),
            (64, Rows::Sequence),
        ] {
            if m > 16 && n * k > 50_000_000 {
                continue;
            }
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 31) % 200) as f32 / 100.0 - 1.0)
                .collect();
            let mut y = vec![0f32; m * n];
            let xt = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap();
            let isas = Isa::available()
                .into_iter()
                .skip(1)
                .map(|i| Some((i, false)));
            // Q4_K in the one-row order also with the packed copy kept
            let keeps = Isa::available()
                .into_iter()
                .skip(1)
                .map(|i| Some((i, true)));
            let keeps = keeps.filter(|_| dtype == GgmlDType::Q4K && rows == Rows::Independent);
            // None: candle's QMatMul, for comparison
            for isa in isas.chain(keeps).chain([None]) {
                let label = isa.map_or("candle".to_string(), |(i, keep)| {
                    format!("{i:?}{}", if keep { "+kept" } else { "" })
                });
                if isa_filter.is_some_and(|f| !label.contains(f.as_str())) {
                    continue;
                }
                kept::keep(isa.is_some_and(|(_, keep)| keep));
                let store = Kept::default();
                let run = |y: &mut [f32]| match isa {
                    Some((isa, false)) => matmul_with(isa, dtype, &data, n, k, &x, y, rows)
                        .expect("one of Isa::available()"),
                    Some((isa, true)) => {
                        let part = Part {
                            dtype,
                            w: &data,
                            n,
                            y,
                            kept: Some(&store),
                        };
                        matmul_many_with(isa, &mut [part], k, &x, rows)
                            .expect("one of Isa::available()")
                    }
                    None => {
                        candle.forward(&xt).unwrap();
                    }
                };
                run(&mut y);
                // The best of several short batches, in wall and CPU time:
                // robust to other load.
                let iters = (200_000_000 / (m * n * k)).clamp(2, 200);
                let (mut s, mut cpu) = (f64::INFINITY, f64::INFINITY);
                for _ in 0..15 {
                    let (t, c) = (Instant::now(), cpu_seconds());
                    for _ in 0..iters {
                        run(&mut y);
                    }
                    s = s.min(t.elapsed().as_secs_f64() / iters as f64);
                    cpu = cpu.min((cpu_seconds() - c) / iters as f64);
                }
                let order = match rows {
                    Rows::Sequence => "seq",
                    Rows::Independent => "ind",
                    Rows::Prompt => "prm",
                };
                println!(
                    "{name:>16} m={m:<3} {order:>4} {label:>10}: {:9.1} us ({:9.1} us CPU) {:6.1} GFLOP/s {:5.1} GB/s of weights ({threads} threads)",
                    s * 1e6,
                    cpu * 1e6,
                    2.0 * (m * n * k) as f64 / s / 1e9,
                    data.len() as f64 / s / 1e9
                );
            }
        }
    }
}
