//! Opening a GGUF file: checks that it is one, that it is whole, and typed access
//! to its metadata. Every failure names the file and says what to do.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::Device;

use crate::error::{Error, Result};

/// A GGUF file whose header has been read and whose tensor data is known to be
/// all there.
pub struct Gguf {
    pub path: PathBuf,
    pub content: gguf_file::Content,
    pub file_size: u64,
    reader: BufReader<File>,
}

impl Gguf {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_size = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut reader = BufReader::new(file);
        let mut magic = [0u8; 4];
        if file_size < 4 || reader.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
            return Err(Error::Model(format!(
                "{} is not a GGUF model file (it does not start with the GGUF magic); \
                 pass a .gguf file",
                path.display()
            )));
        }
        reader.rewind().map_err(|e| Error::io(path, e))?;
        let content = gguf_file::Content::read(&mut reader).map_err(|e| {
            Error::Model(format!(
                "{}: cannot read the GGUF header ({e}); the file is damaged or truncated: \
                 download it again",
                path.display()
            ))
        })?;
        let gguf = Self {
            path: path.to_path_buf(),
            content,
            file_size,
            reader,
        };
        gguf.check_complete()?;
        Ok(gguf)
    }

    /// A truncated download would otherwise fail halfway through loading with a
    /// bare I/O error; check every tensor's extent up front instead.
    fn check_complete(&self) -> Result<()> {
        let mut needed = self.content.tensor_data_offset;
        for info in self.content.tensor_infos.values() {
            let elems = info.shape.elem_count() as u64;
            let block = info.ggml_dtype.block_size() as u64;
            let bytes = elems / block * info.ggml_dtype.type_size() as u64;
            needed = needed.max(self.content.tensor_data_offset + info.offset + bytes);
        }
        if needed > self.file_size {
            return Err(Error::Model(format!(
                "{} is truncated: its tensors need {} bytes but the file has {}; \
                 download it again (or rerun scripts/fetch-models.sh)",
                self.path.display(),
                needed,
                self.file_size
            )));
        }
        Ok(())
    }

    pub fn architecture(&self) -> Result<String> {
        self.string("general.architecture").map(str::to_owned)
    }

    pub fn get(&self, key: &str) -> Option<&gguf_file::Value> {
        self.content.metadata.get(key)
    }

    fn missing(&self, key: &str) -> Error {
        Error::Model(format!(
            "{}: metadata key `{key}` is missing or has the wrong type",
            self.path.display()
        ))
    }

    pub fn string(&self, key: &str) -> Result<&str> {
        self.get(key)
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
            .ok_or_else(|| self.missing(key))
    }

    /// Any integer type; GGUF writers differ on u32/i32/u64.
    pub fn usize(&self, key: &str) -> Result<usize> {
        use gguf_file::Value::*;
        let v = match self.get(key) {
            Some(U8(v)) => *v as u64,
            Some(U16(v)) => *v as u64,
            Some(U32(v)) => *v as u64,
            Some(U64(v)) => *v,
            Some(I8(v)) if *v >= 0 => *v as u64,
            Some(I16(v)) if *v >= 0 => *v as u64,
            Some(I32(v)) if *v >= 0 => *v as u64,
            Some(I64(v)) if *v >= 0 => *v as u64,
            _ => return Err(self.missing(key)),
        };
        Ok(v as usize)
    }

    pub fn f32(&self, key: &str) -> Result<f32> {
        match self.get(key) {
            Some(gguf_file::Value::F32(v)) => Ok(*v),
            Some(gguf_file::Value::F64(v)) => Ok(*v as f32),
            _ => Err(self.missing(key)),
        }
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    pub fn tensor(&mut self, name: &str) -> Result<QTensor> {
        self.content
            .tensor(&mut self.reader, name, &Device::Cpu)
            .map_err(|e| {
                Error::Model(format!(
                    "{}: cannot load tensor `{name}`: {e}",
                    self.path.display()
                ))
            })
    }

    /// The most common weight type, by bytes: what people call the file's quantization.
    pub fn quantization(&self) -> String {
        if let Ok(ft) = self.usize("general.file_type") {
            if let Some(name) = file_type_name(ft) {
                return name.to_string();
            }
        }
        let mut by_type: Vec<(GgmlDType, u64)> = Vec::new();
        for info in self.content.tensor_infos.values() {
            let bytes = (info.shape.elem_count() / info.ggml_dtype.block_size()
                * info.ggml_dtype.type_size()) as u64;
            match by_type.iter_mut().find(|(t, _)| *t == info.ggml_dtype) {
                Some((_, b)) => *b += bytes,
                None => by_type.push((info.ggml_dtype, bytes)),
            }
        }
        by_type
            .into_iter()
            .max_by_key(|(_, b)| *b)
            .map(|(t, _)| format!("{t:?}"))
            .unwrap_or_else(|| "unknown".into())
    }
}

/// llama.cpp's `llama_ftype` names for `general.file_type`.
fn file_type_name(ft: usize) -> Option<&'static str> {
    Some(match ft {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        32 => "BF16",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_tmp(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn not_gguf_is_named() {
        let f = write_tmp(b"hello, this is text");
        let err = Gguf::open(f.path()).err().unwrap().to_string();
        assert!(err.contains("is not a GGUF model file"), "{err}");
    }

    #[test]
    fn empty_file_is_not_gguf() {
        let f = write_tmp(b"");
        let err = Gguf::open(f.path()).err().unwrap().to_string();
        assert!(err.contains("is not a GGUF model file"), "{err}");
    }

    #[test]
    fn truncated_header_is_reported() {
        // magic + version 3 + a tensor count, then nothing
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(&5u64.to_le_bytes());
        let f = write_tmp(&bytes);
        let err = Gguf::open(f.path()).err().unwrap().to_string();
        assert!(err.contains("damaged or truncated"), "{err}");
    }
}
