//! The quantized linear layer every projection goes through: the one place that
//! decides which matmul kernel runs on the GGUF blocks as loaded.

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Module, Tensor};

use crate::error::Result;

#[derive(Clone)]
pub struct QLinear {
    weight: QMatMul,
    bias: Option<Tensor>,
    out_features: usize,
}

impl QLinear {
    pub fn new(weight: QTensor, bias: Option<Tensor>) -> Result<Self> {
        let (out_features, _in) = weight.shape().dims2()?;
        Ok(Self {
            weight: QMatMul::from_arc(Arc::new(weight))?,
            bias,
            out_features,
        })
    }

    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// `x`: (.., in) -> (.., out)
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.weight.forward(x)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}
