//! The quantized linear layer every projection goes through: the one place that
//! decides which matmul kernel runs on the GGUF blocks as loaded.

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, Module, Storage, Tensor};

use crate::error::{Error, Result};
use crate::kernels::{self, Rows};
use crate::model::weights::Blocks;

#[derive(Clone)]
pub struct QLinear {
    weight: Weight,
    bias: Option<Tensor>,
    out_features: usize,
    in_features: usize,
}

#[derive(Clone)]
enum Weight {
    /// The blocks for `kernels::matmul`, where they lie (mapped from the file).
    Ours(Blocks),
    /// Candle's matmul: the fallback for types `kernels` doesn't take.
    Candle(QMatMul),
}

impl QLinear {
    pub fn new(weight: QTensor, bias: Option<Tensor>) -> Result<Self> {
        Self::load(Blocks::owned(weight), bias)
    }

    /// A layer on `weight`'s blocks, shared, not copied, when our kernels take them
    /// (tied embeddings use the embedding table's).
    pub fn load(weight: Blocks, bias: Option<Tensor>) -> Result<Self> {
        let (out_features, in_features) = weight.dims2()?;
        let ours = kernels::enabled()
            && kernels::supports(weight.dtype)
            && in_features % weight.dtype.block_size() == 0;
        let weight = match ours {
            true => Weight::Ours(weight),
            false => Weight::Candle(QMatMul::from_arc(weight.to_qtensor()?)?),
        };
        Ok(Self {
            weight,
            bias,
            out_features,
            in_features,
        })
    }

    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// Multiply-adds per input row.
    pub fn params(&self) -> usize {
        self.out_features * self.in_features
    }

    /// Bytes of weights one forward reads, and whether they are used in place from
    /// the model file's map.
    pub fn weight_bytes(&self) -> (usize, bool) {
        match &self.weight {
            Weight::Ours(w) => (w.bytes().map_or(0, |b| b.len()), w.is_mapped()),
            Weight::Candle(w) => match w {
                QMatMul::QTensor(t) => (t.storage_size_in_bytes(), false),
                QMatMul::Tensor(t) | QMatMul::TensorF16(t) => {
                    (t.elem_count() * t.dtype().size_in_bytes(), false)
                }
            },
        }
    }

    /// Whether it runs on abridge's kernels (not candle's fallback).
    pub fn is_ours(&self) -> bool {
        matches!(self.weight, Weight::Ours(_))
    }

    /// `x`: (.., in) -> (.., out), its rows the positions of one sequence.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_rows(x, Rows::Sequence)
    }

    /// The same with `rows` saying what the rows are (a decode batch: one per sequence).
    pub fn forward_rows(&self, x: &Tensor, rows: Rows) -> Result<Tensor> {
        let y = match &self.weight {
            Weight::Ours(w) => self.forward_ours(w, x, rows)?,
            Weight::Candle(w) => w.forward(x)?,
        };
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }

    /// Several layers on the same input (q, k and v; gate and up): with our
    /// kernels in one parallel region (`kernels::matmul_many`), each as
    /// [`Self::forward_rows`] would give it.
    pub fn forward_many(layers: &[&QLinear], x: &Tensor, rows: Rows) -> Result<Vec<Tensor>> {
        let ours: Option<Vec<&Blocks>> = layers
            .iter()
            .map(|l| match &l.weight {
                Weight::Ours(w) if l.in_features == layers[0].in_features => Some(w),
                _ => None,
            })
            .collect();
        let Some(weights) = ours.filter(|w| w.len() > 1) else {
            return layers.iter().map(|l| l.forward_rows(x, rows)).collect();
        };
        let k = layers[0].in_features;
        let x = Self::input(x, k)?;
        let (storage, layout) = x.storage_and_layout();
        let xs = Self::slice(&storage, layout, x.elem_count())?;
        let bytes: Vec<_> = weights.iter().map(|w| w.bytes()).collect::<Result<_>>()?;
        let mut ys: Vec<Vec<f32>> = layers
            .iter()
            .map(|l| vec![0f32; xs.len() / k * l.out_features])
            .collect();
        let mut parts: Vec<kernels::Part> = weights
            .iter()
            .zip(&bytes)
            .zip(layers)
            .zip(&mut ys)
            .map(|(((w, b), l), y)| kernels::Part {
                dtype: w.dtype,
                w: b,
                n: l.out_features,
                y,
                kept: Some(&w.kept),
            })
            .collect();
        kernels::matmul_many(&mut parts, k, xs, rows);
        drop(parts);
        layers
            .iter()
            .zip(ys)
            .map(|(l, y)| {
                let mut dims = x.dims().to_vec();
                *dims.last_mut().expect("a (.., in) input") = l.out_features;
                let y = Tensor::from_vec(y, dims, &Device::Cpu)?;
                Ok(match &l.bias {
                    Some(b) => y.broadcast_add(b)?,
                    None => y,
                })
            })
            .collect()
    }

    /// `x` as a contiguous f32 tensor of `k`-value rows.
    fn input(x: &Tensor, k: usize) -> Result<Tensor> {
        if x.dims().last() != Some(&k) {
            return Err(Error::Model(format!(
                "a linear layer of {k} inputs was given a tensor of shape {:?}",
                x.dims()
            )));
        }
        Ok(x.to_dtype(DType::F32)?.contiguous()?)
    }

    /// The f32 values of a CPU tensor's storage.
    fn slice<'s>(
        storage: &'s Storage,
        layout: &candle_core::Layout,
        count: usize,
    ) -> Result<&'s [f32]> {
        let Storage::Cpu(cpu) = storage else {
            return Err(Error::Model(
                "the quantized kernels run on the CPU only".into(),
            ));
        };
        let xs = cpu.as_slice::<f32>()?;
        Ok(&xs[layout.start_offset()..layout.start_offset() + count])
    }

    /// Our kernels, for f32 CPU inputs (all the transformer makes).
    fn forward_ours(&self, w: &Blocks, x: &Tensor, rows: Rows) -> Result<Tensor> {
        let x = Self::input(x, self.in_features)?;
        let (storage, layout) = x.storage_and_layout();
        let xs = Self::slice(&storage, layout, x.elem_count())?;
        let (k, n) = (self.in_features, self.out_features);
        let mut y = vec![0f32; xs.len() / k * n];
        let part = kernels::Part {
            dtype: w.dtype,
            w: &w.bytes()?,
            n,
            y: &mut y,
            kept: Some(&w.kept),
        };
        kernels::matmul_many(&mut [part], k, xs, rows);
        let mut dims = x.dims().to_vec();
        *dims.last_mut().expect("a (.., in) input") = n;
        Ok(Tensor::from_vec(y, dims, &Device::Cpu)?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::*;

    fn layer(dtype: GgmlDType, n: usize, k: usize) -> (QLinear, QMatMul, Tensor) {
        let dev = Device::Cpu;
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let w = Tensor::from_vec(w, (n, k), &dev).unwrap();
        let bias = Tensor::from_vec((0..n).map(|i| i as f32 / 10.0).collect(), n, &dev).unwrap();
        let q = QTensor::quantize(&w, dtype).unwrap();
        let reference = QMatMul::from_qtensor(QTensor::quantize(&w, dtype).unwrap()).unwrap();
        (
            QLinear::new(q, Some(bias.clone())).unwrap(),
            reference,
            bias,
        )
    }

    /// Ours (Q4_0: our kernels) and candle's (Q2_K: the fallback) agree with
    /// candle's matmul plus bias on a batched (b, t, k) input.
    #[test]
    fn forward_matches_candle_with_bias() {
        for dtype in [GgmlDType::Q4_0, GgmlDType::Q2K] {
            let (n, k) = (48, 256);
            let (ours, reference, bias) = layer(dtype, n, k);
            assert_eq!(
                matches!(ours.weight, Weight::Ours(_)),
                dtype == GgmlDType::Q4_0
            );
            let x: Vec<f32> = (0..2 * 3 * k)
                .map(|i| ((i * 13) % 29) as f32 / 14.0 - 1.0)
                .collect();
            let x = Tensor::from_vec(x, (2, 3, k), &Device::Cpu).unwrap();
            let got = ours.forward(&x).unwrap();
            assert_eq!(got.dims(), &[2, 3, n]);
            let want = reference.forward(&x).unwrap().broadcast_add(&bias).unwrap();
            let diff: f32 = (got - &want)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            let scale: f32 = want.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
            assert!(diff <= 0.02 * scale, "{dtype:?}: {diff} vs {scale}");
        }
    }
}
