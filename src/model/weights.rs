//! A tensor's stored bytes, used where they are: in the read-only memory map of its
//! GGUF file (no copy, no zeroing; every process that loads the file shares the same
//! page-cache pages), or in memory for tensors built elsewhere (tests, synthetic
//! models) and the rare file whose data is not aligned.

use std::borrow::Cow;
use std::sync::Arc;

use candle_core::quantized::{ggml_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::kernels::Kept;

/// Where a mapped tensor must start for its blocks to be read in place: GGUF's
/// default alignment, more than any block type needs.
pub(crate) const ALIGN: usize = 32;

/// One tensor's data as GGUF stores it (blocks of `dtype`), with its shape in
/// candle's order (rows, then columns).
#[derive(Clone)]
pub struct Blocks {
    data: Data,
    pub dtype: GgmlDType,
    pub dims: Vec<usize>,
    /// The packed kernels' copy of these blocks, when kept (`kernels::kept`).
    pub kept: Arc<Kept>,
}

#[derive(Clone)]
enum Data {
    Mapped {
        map: Arc<Mmap>,
        start: usize,
        len: usize,
    },
    Owned(Arc<QTensor>),
}

impl Blocks {
    /// `len` bytes at `start` of `map`; `None` unless the range is inside the map and
    /// starts aligned (the caller then copies the tensor instead).
    pub(crate) fn mapped(
        map: &Arc<Mmap>,
        start: usize,
        len: usize,
        dtype: GgmlDType,
        dims: Vec<usize>,
    ) -> Option<Self> {
        let end = start.checked_add(len)?;
        let aligned = (map.as_ptr() as usize)
            .wrapping_add(start)
            .is_multiple_of(ALIGN);
        (end <= map.len() && aligned).then(|| Self {
            data: Data::Mapped {
                map: map.clone(),
                start,
                len,
            },
            dtype,
            dims,
            kept: Arc::default(),
        })
    }

    pub fn owned(tensor: QTensor) -> Self {
        Self::shared(Arc::new(tensor))
    }

    pub fn shared(tensor: Arc<QTensor>) -> Self {
        Self {
            dtype: tensor.dtype(),
            dims: tensor.shape().dims().to_vec(),
            data: Data::Owned(tensor),
            kept: Arc::default(),
        }
    }

    pub fn is_mapped(&self) -> bool {
        matches!(self.data, Data::Mapped { .. })
    }

    /// (rows, columns) of a matrix.
    pub fn dims2(&self) -> Result<(usize, usize)> {
        match self.dims[..] {
            [rows, cols] => Ok((rows, cols)),
            _ => Err(Error::Model(format!(
                "expected a matrix, found a tensor of shape {:?}",
                self.dims
            ))),
        }
    }

    /// The raw blocks, borrowed.
    pub fn bytes(&self) -> Result<Cow<'_, [u8]>> {
        Ok(match &self.data {
            Data::Mapped { map, start, len } => Cow::Borrowed(&map[*start..*start + *len]),
            Data::Owned(t) => t.data()?,
        })
    }

    /// A candle tensor of these blocks, for candle's kernels (types ours do not
    /// take): a copy for mapped data.
    pub fn to_qtensor(&self) -> Result<Arc<QTensor>> {
        match &self.data {
            Data::Owned(t) => Ok(t.clone()),
            Data::Mapped { .. } => Ok(Arc::new(self.decode(&self.bytes()?, self.dims.clone())?)),
        }
    }

    /// Rows `ids` of a matrix as f32, (ids, columns): an embedding lookup, each row
    /// dequantized from the blocks where they lie.
    pub fn rows(&self, ids: &[u32]) -> Result<Tensor> {
        let (n, cols) = self.dims2()?;
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= n) {
            return Err(Error::Model(format!(
                "token id {bad} is past the model's {n} embeddings"
            )));
        }
        if let Data::Owned(t) = &self.data {
            return Ok(t.embedding(&Tensor::new(ids, &Device::Cpu)?)?);
        }
        let bytes = self.bytes()?;
        let row = bytes.len() / n;
        let mut out = Vec::with_capacity(ids.len() * cols);
        for &i in ids {
            let i = i as usize;
            // Rows are whole blocks from an aligned start, so each one is aligned
            // for its block type too.
            let q = self.decode(&bytes[i * row..(i + 1) * row], vec![cols])?;
            out.extend(q.dequantize(&Device::Cpu)?.to_vec1::<f32>()?);
        }
        Ok(Tensor::from_vec(out, (ids.len(), cols), &Device::Cpu)?)
    }

    fn decode(&self, bytes: &[u8], dims: Vec<usize>) -> Result<QTensor> {
        Ok(ggml_file::qtensor_from_ggml(
            self.dtype,
            bytes,
            dims,
            &Device::Cpu,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn matrix(dtype: GgmlDType, n: usize, k: usize) -> QTensor {
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 31) % 97) as f32 / 48.0 - 1.0)
            .collect();
        let w = Tensor::from_vec(w, (n, k), &Device::Cpu).unwrap();
        QTensor::quantize(&w, dtype).unwrap()
    }

    /// A tensor's blocks written to a file at an aligned offset and mapped give the
    /// rows and the tensor candle gives for the same blocks in memory.
    #[test]
    fn mapped_rows_match_owned() {
        for dtype in [
            GgmlDType::Q4K,
            GgmlDType::Q6K,
            GgmlDType::Q8_0,
            GgmlDType::F32,
        ] {
            let (n, k) = (5, 512);
            let q = matrix(dtype, n, k);
            let data = q.data().unwrap().into_owned();
            let mut f = tempfile::NamedTempFile::new().unwrap();
            f.write_all(&[7u8; 64]).unwrap();
            f.write_all(&data).unwrap();
            f.flush().unwrap();
            // SAFETY: the temp file is ours and not changed while mapped.
            let map = Arc::new(unsafe { Mmap::map(f.as_file()) }.unwrap());
            let mapped = Blocks::mapped(&map, 64, data.len(), dtype, vec![n, k]).unwrap();
            assert!(mapped.is_mapped());
            assert!(Blocks::mapped(&map, 65, data.len() - 1, dtype, vec![n, k]).is_none());
            assert!(Blocks::mapped(&map, 64, data.len() + 1, dtype, vec![n, k]).is_none());
            let owned = Blocks::owned(q);
            assert_eq!(mapped.bytes().unwrap(), owned.bytes().unwrap());
            let ids = [4u32, 0, 2, 2];
            let a = mapped.rows(&ids).unwrap().to_vec2::<f32>().unwrap();
            let b = owned.rows(&ids).unwrap().to_vec2::<f32>().unwrap();
            assert_eq!(a, b, "{dtype:?}");
            assert!(mapped.rows(&[5]).is_err());
            let t = mapped.to_qtensor().unwrap();
            assert_eq!(t.data().unwrap(), owned.bytes().unwrap());
        }
    }
}
