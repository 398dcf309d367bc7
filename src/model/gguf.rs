//! Opening a GGUF file: checks that it is one, that it is whole, and typed access
//! to its metadata. Every failure names the file and says what to do.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::Device;
use memmap2::{Mmap, MmapOptions};

use crate::error::{Error, Result};
use crate::model::weights::Blocks;

/// A GGUF file whose header has been read and whose tensor data is known to be
/// all there.
pub struct Gguf {
    pub path: PathBuf,
    pub content: gguf_file::Content,
    pub file_size: u64,
    reader: BufReader<File>,
    /// The whole file, read-only: weights are used in place.
    map: Arc<Mmap>,
}

impl Gguf {
    /// Opens a model file to load it: the whole file is mapped and read in.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, true)
    }

    /// Opens a model file for its header and metadata only: mapped but not
    /// read in, so it costs no memory (listing models, checking one).
    pub fn header(path: &Path) -> Result<Self> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, populate: bool) -> Result<Self> {
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
        check_alignment(path, &mut reader, file_size)?;
        reader.rewind().map_err(|e| Error::io(path, e))?;
        let content = gguf_file::Content::read(&mut reader).map_err(|e| {
            Error::Model(format!(
                "{}: cannot read the GGUF header ({e}); the file is damaged or truncated: \
                 download it again",
                path.display()
            ))
        })?;
        // SAFETY: the map is read-only and the file is not ours to change; like
        // llama.cpp, we rely on model files not being rewritten while in use. Populated
        // at once (as llama.cpp does) so loading, not the first prompt, pays for it.
        let mut options = MmapOptions::new();
        if populate {
            options.populate();
        }
        let map = unsafe { options.map(reader.get_ref()) }.map_err(|e| Error::io(path, e))?;
        let gguf = Self {
            path: path.to_path_buf(),
            content,
            file_size,
            reader,
            map: Arc::new(map),
        };
        gguf.check_complete()?;
        Ok(gguf)
    }

    /// A truncated download would otherwise fail halfway through loading with a
    /// bare I/O error; check every tensor's extent up front instead (with checked
    /// arithmetic: the sizes come from the file).
    fn check_complete(&self) -> Result<()> {
        let mut needed = self.content.tensor_data_offset;
        for (name, info) in &self.content.tensor_infos {
            let end = tensor_bytes(info)
                .map_err(|why| {
                    Error::Model(format!(
                        "{}: tensor `{name}` {why}; the file is damaged: download it again",
                        self.path.display()
                    ))
                })?
                .checked_add(info.offset)
                .and_then(|b| b.checked_add(self.content.tensor_data_offset))
                .ok_or_else(|| {
                    Error::Model(format!(
                        "{}: tensor `{name}` has an offset ({}) past any file size; \
                         the file is damaged: download it again",
                        self.path.display(),
                        info.offset
                    ))
                })?;
            needed = needed.max(end);
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

    /// A tensor's blocks where they lie in the file (copied only if the file does not
    /// align them).
    pub fn blocks(&mut self, name: &str) -> Result<Blocks> {
        let info = self.content.tensor_infos.get(name).ok_or_else(|| {
            Error::Model(format!(
                "{}: tensor `{name}` is missing",
                self.path.display()
            ))
        })?;
        // open() checked that every tensor lies inside the file.
        let start = usize::try_from(self.content.tensor_data_offset + info.offset).ok();
        let len = tensor_bytes(info)
            .ok()
            .and_then(|b| usize::try_from(b).ok());
        let (dtype, dims) = (info.ggml_dtype, info.shape.dims().to_vec());
        match start
            .zip(len)
            .and_then(|(start, len)| Blocks::mapped(&self.map, start, len, dtype, dims))
        {
            Some(blocks) => Ok(blocks),
            None => Ok(Blocks::owned(self.tensor(name)?)),
        }
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
            // open() checked every size
            let bytes = tensor_bytes(info).unwrap_or(0);
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

/// The bytes a tensor's data takes, or why its shape cannot be stored.
fn tensor_bytes(info: &gguf_file::TensorInfo) -> std::result::Result<u64, String> {
    let dims = info.shape.dims();
    let elems = dims
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .ok_or_else(|| format!("has a shape ({dims:?}) too large to exist"))?;
    let block = info.ggml_dtype.block_size() as u64;
    if elems % block != 0 {
        return Err(format!(
            "has {elems} values, not a multiple of {block} ({:?} stores blocks of {block})",
            info.ggml_dtype
        ));
    }
    (elems / block)
        .checked_mul(info.ggml_dtype.type_size() as u64)
        .ok_or_else(|| format!("has a shape ({dims:?}) too large to exist"))
}

/// candle's reader rounds the tensor data offset up to `general.alignment` and
/// panics when it is 0, so read that key first by walking the metadata (without
/// keeping it). Anything malformed is left to candle's reader, which reports it.
fn check_alignment(path: &Path, r: &mut BufReader<File>, file_size: u64) -> Result<()> {
    match scan_alignment(r, file_size) {
        Some(a) if a == 0 || !a.is_power_of_two() => Err(Error::Model(format!(
            "{}: general.alignment is {a}, but it must be a power of two (GGUF's default \
             is 32); the file is damaged: convert or download it again",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// The integer `general.alignment`, if the metadata holds one (None also when the
/// header is malformed).
fn scan_alignment<R: Read + Seek>(r: &mut R, file_size: u64) -> Option<u64> {
    // a little-endian unsigned integer of n bytes
    let read = |r: &mut R, n: usize| -> Option<u64> {
        let mut buf = [0u8; 8];
        r.read_exact(&mut buf[..n]).ok()?;
        Some(u64::from_le_bytes(buf))
    };
    r.seek(std::io::SeekFrom::Start(4)).ok()?;
    let version = read(r, 4)?;
    // GGUF v1 has 32-bit counts and lengths, later versions 64-bit
    let len = if version == 1 { 4 } else { 8 };
    let _tensors = read(r, len)?;
    let kvs = read(r, len)?;
    let skip = |r: &mut R, n: u64| -> Option<()> {
        let at = r.stream_position().ok()?;
        (at.checked_add(n)? <= file_size).then_some(())?;
        r.seek(std::io::SeekFrom::Current(i64::try_from(n).ok()?))
            .ok()?;
        Some(())
    };
    // value types 0..=12: u8 i8 u16 i16 u32 i32 f32 bool string array u64 i64 f64
    let fixed = |ty: u64| -> Option<u64> {
        Some(match ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            _ => return None,
        })
    };
    for _ in 0..kvs {
        let key_len = read(r, len)?;
        let mut key = vec![0u8; usize::try_from(key_len.min(64)).ok()?];
        r.read_exact(&mut key).ok()?;
        skip(r, key_len - key.len() as u64)?;
        let ty = read(r, 4)?;
        if key == b"general.alignment" {
            return read(r, fixed(ty)? as usize);
        }
        match ty {
            8 => {
                let n = read(r, len)?;
                skip(r, n)?;
            }
            9 => {
                let elem = read(r, 4)?;
                let count = read(r, len)?;
                match elem {
                    8 => {
                        for _ in 0..count {
                            let n = read(r, len)?;
                            skip(r, n)?;
                        }
                    }
                    // nested arrays are not used by any model; candle bounds their depth
                    9 => return None,
                    _ => skip(r, count.checked_mul(fixed(elem)?)?)?,
                }
            }
            _ => skip(r, fixed(ty)?)?,
        }
    }
    None
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

    /// Bytes of the one-tensor GGUF with the u64 at `delta` bytes past the end of
    /// its tensor's name replaced by `value`.
    fn patched(delta: usize, value: u64) -> tempfile::NamedTempFile {
        use crate::model::synthetic::TinyGguf;
        let mut bytes = TinyGguf::bare("llama").bytes().unwrap();
        let name = b"token_embd.weight";
        let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len();
        bytes[at + delta..at + delta + 8].copy_from_slice(&value.to_le_bytes());
        write_tmp(&bytes)
    }

    #[test]
    fn tensor_sizes_that_overflow_are_errors() {
        // after the name: n_dims (u32), ne0, ne1 (u64), type (u32), offset (u64)
        let f = patched(4 + 8, u64::MAX / 2);
        let err = Gguf::open(f.path()).err().unwrap().to_string();
        assert!(err.contains("`token_embd.weight` has a shape"), "{err}");
        assert!(err.contains("too large to exist"), "{err}");
        let f = patched(4 + 16 + 4, u64::MAX - 4);
        let err = Gguf::open(f.path()).err().unwrap().to_string();
        assert!(err.contains("has an offset"), "{err}");
    }

    #[test]
    fn alignment_scan_finds_the_key_or_nothing() {
        use crate::model::synthetic::TinyGguf;
        let t = TinyGguf::llama().set("general.alignment", gguf_file::Value::U32(64));
        let bytes = t.bytes().unwrap();
        let len = bytes.len() as u64;
        assert_eq!(
            scan_alignment(&mut std::io::Cursor::new(&bytes), len),
            Some(64)
        );
        let bytes = TinyGguf::bare("llama").bytes().unwrap();
        let len = bytes.len() as u64;
        assert_eq!(scan_alignment(&mut std::io::Cursor::new(&bytes), len), None);
    }
}
