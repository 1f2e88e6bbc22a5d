//! Finding and opening the weight files of a Hugging Face model folder.

use std::path::{Path, PathBuf};

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::atomic::write_dir_atomically;
use crate::error::{Error, Result};
use crate::model::sentence::copy_tree;

/// The weight files of `dir` as an error message names them (tensors and
/// variables a caller gives were read from there too).
pub fn weights_named(dir: &Path) -> String {
    weight_files(dir).map_or_else(
        |_| "the weights given".to_string(),
        |files| {
            let names: Vec<_> = files.iter().map(|f| f.display().to_string()).collect();
            names.join(", ")
        },
    )
}

/// Writes `tensors` to the safetensors file `path`. A failure to write (a
/// full disk) is an I/O error on `path`, so that inside a temporary folder it
/// names the file it was to become.
pub fn save_tensors<K: AsRef<str> + Ord + std::fmt::Display>(
    tensors: &HashMap<K, Tensor>,
    path: &Path,
) -> Result<()> {
    use candle_core::Error as Candle;
    use safetensors::SafeTensorError;
    candle_core::safetensors::save(tensors, path).map_err(|e| match e {
        Candle::Io(io) | Candle::SafeTensor(SafeTensorError::IoError(io)) => Error::io(path, io),
        e => Error::model_config(path, format!("cannot write weights: {e}")),
    })
}

/// A head's or table's failure to load from the weights of `dir` (a tensor
/// missing or of the wrong shape), naming the weight files.
pub fn in_weights<T>(dir: &Path, loaded: Result<T>) -> Result<T> {
    loaded.map_err(|e| match e {
        Error::Candle(_) | Error::InvalidArgument(_) => {
            Error::model_config(weights_named(dir), e.to_string())
        }
        e => e,
    })
}

/// The weight files of a folder: `model.safetensors`, the shards listed in
/// `model.safetensors.index.json`, or a PyTorch `pytorch_model.bin`.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::parse(&index, e.line(), Some(e.column()), e.to_string()))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::parse(&index, 1, None, "no \"weight_map\" object"))?;
        let mut files: Vec<PathBuf> = map
            .values()
            .filter_map(|f| f.as_str())
            .map(|f| dir.join(f))
            .collect();
        files.sort();
        files.dedup();
        return Ok(files);
    }
    let bin = dir.join("pytorch_model.bin");
    if bin.is_file() {
        return Ok(vec![bin]);
    }
    Err(Error::model_config(
        dir,
        "no weights (model.safetensors, model.safetensors.index.json or pytorch_model.bin)",
    ))
}

/// Opens the weights of `dir` as a candle `VarBuilder` (memory-mapped safetensors).
pub fn var_builder(dir: &Path, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    let files = weight_files(dir)?;
    if files.len() == 1 && files[0].extension().is_some_and(|e| e == "bin") {
        let tensors = candle_core::pickle::read_all(&files[0])
            .map_err(|e| Error::model_config(&files[0], e.to_string()))?;
        let map = tensors.into_iter().collect();
        return Ok(VarBuilder::from_tensors(map, dtype, device));
    }
    // SAFETY: the files are memory-mapped read-only; rankbook never writes to a
    // model folder it is reading, and replaces files atomically (rename) when saving.
    unsafe { VarBuilder::from_mmaped_safetensors(&files, dtype, device) }
        .map_err(|e| Error::model_config(dir, format!("cannot read weights: {e}")))
}

/// Trainable variables (f32) by name, and each tensor's stored dtype
/// (restored on saving).
pub type TrainableWeights = (candle_nn::VarMap, std::collections::BTreeMap<String, DType>);

/// The weights of `dir` as trainable variables under their file names.
pub fn trainable_weights(dir: &Path, device: &Device) -> Result<TrainableWeights> {
    let mut w = (candle_nn::VarMap::new(), std::collections::BTreeMap::new());
    add_trainable_weights(&mut w, dir, "", device)?;
    Ok(w)
}

/// Adds the weights of `dir` to `weights`, each name after `prefix`.
pub fn add_trainable_weights(
    weights: &mut TrainableWeights,
    dir: &Path,
    prefix: &str,
    device: &Device,
) -> Result<()> {
    let mut tensors: Vec<(String, candle_core::Tensor)> = Vec::new();
    for f in weight_files(dir)? {
        let read = if f.extension().is_some_and(|e| e == "bin") {
            candle_core::pickle::read_all(&f).map(|v| v.into_iter().collect::<Vec<_>>())
        } else {
            candle_core::safetensors::load(&f, device).map(|m| m.into_iter().collect())
        };
        tensors.extend(
            read.map_err(|e| Error::model_config(&f, format!("cannot read weights: {e}")))?,
        );
    }
    let mut data = weights.0.data().lock().unwrap_or_else(|p| p.into_inner());
    for (name, t) in tensors {
        let name = format!("{prefix}{name}");
        weights.1.insert(name.clone(), t.dtype());
        let v = candle_core::Var::from_tensor(&t.to_device(device)?.to_dtype(DType::F32)?)?;
        data.insert(name, v);
    }
    Ok(())
}

/// Weights trained in memory (f32), by tensor name, with the dtypes to store them in.
pub struct TrainedWeights {
    /// The values.
    pub tensors: HashMap<String, Tensor>,
    /// Each tensor's dtype in the folder it came from.
    pub dtypes: std::collections::BTreeMap<String, DType>,
}

impl TrainedWeights {
    /// The current values of `weights`.
    pub fn of(weights: &TrainableWeights) -> Result<Self> {
        Ok(Self {
            tensors: copy_weights(&vars_of(weights))?,
            dtypes: weights.1.clone(),
        })
    }

    /// Each tensor in its stored dtype, as saving writes it.
    pub fn stored(&self) -> Result<HashMap<String, Tensor>> {
        self.tensors
            .iter()
            .map(|(name, w)| {
                let dtype = self.dtypes.get(name).copied().unwrap_or(DType::F32);
                Ok((name.clone(), w.to_dtype(dtype)?))
            })
            .collect()
    }
}

/// The variables of trainable weights, sorted by name.
pub fn vars_of(weights: &TrainableWeights) -> Vec<(String, candle_core::Var)> {
    let data = weights.0.data().lock().unwrap_or_else(|p| p.into_inner());
    let mut vars: Vec<_> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Writes a copy of the model folder `src` to `out`, atomically, with the
/// weight files of each `(dir, tensors)` of `replaced` (a folder under `src`)
/// replaced by one `model.safetensors` of `tensors`.
pub fn write_folder_with_weights(
    src: &Path,
    out: &Path,
    replaced: &[(PathBuf, HashMap<String, Tensor>)],
) -> Result<()> {
    let mut skip = std::collections::HashSet::new();
    for (dir, _) in replaced {
        skip.extend(weight_files(dir).unwrap_or_default());
        skip.insert(dir.join("model.safetensors.index.json"));
    }
    let is_model = |p: &Path| p.join("modules.json").is_file();
    write_dir_atomically(out, "model folder", is_model, |tmp| {
        copy_tree(src, tmp, &|p: &Path| skip.contains(p))?;
        for (dir, tensors) in replaced {
            let rel = dir.strip_prefix(src).unwrap_or(Path::new(""));
            let path = tmp.join(rel).join("model.safetensors");
            save_tensors(tensors, &path)?;
        }
        Ok(())
    })
}

/// SHA-256 of the weight files (in order), as a hex string; identifies a model's weights.
pub fn weights_hash(dir: &Path) -> Result<String> {
    crate::checksum::sha256_files(&weight_files(dir)?)
}

/// SHA-256 over named tensors (sorted by name: name, dtype, shape, f32 values),
/// as a hex string; identifies weights held in memory.
pub fn tensors_hash(
    tensors: &std::collections::HashMap<String, candle_core::Tensor>,
) -> Result<String> {
    use sha2::Digest;
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut h = sha2::Sha256::new();
    for name in names {
        let t = &tensors[name];
        h.update(name.as_bytes());
        h.update(format!("{:?}{:?}", t.dtype(), t.dims()).as_bytes());
        let values: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        for chunk in values.chunks(1 << 16) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
            h.update(&bytes);
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// Copies of `vars`' values by name.
pub fn copy_weights(
    vars: &[(String, candle_core::Var)],
) -> Result<std::collections::HashMap<String, candle_core::Tensor>> {
    if vars.is_empty() {
        return Err(Error::InvalidArgument(
            "the model was not loaded for training (Backend::Trainable)".into(),
        ));
    }
    vars.iter()
        .map(|(name, v)| Ok((name.clone(), v.as_tensor().copy()?)))
        .collect()
}

/// Sets `vars` from `weights` (every one must be present with its shape).
pub fn assign_weights(
    vars: &[(String, candle_core::Var)],
    weights: &std::collections::HashMap<String, candle_core::Tensor>,
) -> Result<()> {
    if vars.is_empty() {
        return Err(Error::InvalidArgument(
            "the model was not loaded for training (Backend::Trainable)".into(),
        ));
    }
    for (name, var) in vars {
        let w = weights.get(name).ok_or_else(|| {
            Error::InvalidArgument(format!("the weights have no `{name}`: another model"))
        })?;
        if w.dims() != var.dims() {
            return Err(Error::InvalidArgument(format!(
                "weight `{name}` is {:?}, the model's {:?}: another model",
                w.dims(),
                var.dims()
            )));
        }
        var.set(&w.to_device(var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}
