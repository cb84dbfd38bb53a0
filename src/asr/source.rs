//! Where a model comes from: a local directory, or a Hugging Face hub repository fetched into the
//! standard cache (`HF_HOME` respected, `HF_HUB_OFFLINE` honoured).

use std::io::Write;
use std::path::{Path, PathBuf};

use hf_hub::{api::sync::ApiBuilder, Cache, Repo, RepoType};

use super::ModelError;

/// Short names accepted by `--model`, and the hub repository each stands for.
pub const SHORT_NAMES: &[(&str, &str)] = &[
    ("tiny.en", "openai/whisper-tiny.en"),
    ("tiny", "openai/whisper-tiny"),
    ("base.en", "openai/whisper-base.en"),
    ("base", "openai/whisper-base"),
    ("small.en", "openai/whisper-small.en"),
    ("small", "openai/whisper-small"),
    ("medium.en", "openai/whisper-medium.en"),
    ("medium", "openai/whisper-medium"),
    ("large-v3", "openai/whisper-large-v3"),
];

/// Files a hub model needs.
pub const HUB_FILES: &[&str] = &["config.json", "tokenizer.json", "model.safetensors"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Dir(PathBuf),
    Hub(String),
}

fn looks_like_path(s: &str) -> bool {
    s.starts_with('/')
        || s.starts_with('.')
        || s.starts_with('~')
        || s.ends_with('/')
        || s.contains('\\')
}

impl ModelSource {
    /// Interpret a `--model` value: an existing directory wins, then short names, then
    /// `owner/name` hub ids.
    pub fn parse(arg: &str) -> Result<Self, ModelError> {
        let p = Path::new(arg);
        if p.is_dir() {
            return Ok(Self::Dir(p.to_path_buf()));
        }
        if p.exists() {
            return Err(ModelError::BadArg {
                arg: arg.into(),
                reason: "this is a file; pass the directory that holds the model's files".into(),
            });
        }
        if looks_like_path(arg) {
            return Err(ModelError::BadArg {
                arg: arg.into(),
                reason: "no such directory".into(),
            });
        }
        if let Some((_, repo)) = SHORT_NAMES.iter().find(|(n, _)| *n == arg) {
            return Ok(Self::Hub((*repo).into()));
        }
        let parts: Vec<&str> = arg.split('/').collect();
        if parts.len() == 2 && parts.iter().all(|s| !s.is_empty()) {
            return Ok(Self::Hub(arg.into()));
        }
        let names: Vec<&str> = SHORT_NAMES.iter().map(|(n, _)| *n).collect();
        Err(ModelError::BadArg {
            arg: arg.into(),
            reason: format!(
                "not a directory, a hub id (owner/name) or a known model name ({})",
                names.join(", ")
            ),
        })
    }

    /// A directory holding the model's files, downloading them from the hub if needed.
    pub fn fetch(&self) -> Result<PathBuf, ModelError> {
        match self {
            Self::Dir(d) => Ok(d.clone()),
            Self::Hub(repo) => fetch_hub(repo),
        }
    }
}

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| !matches!(v.trim(), "" | "0" | "false" | "False" | "FALSE"))
        .unwrap_or(false)
}

/// The hub cache directory, as the Hugging Face tools choose it: `HF_HUB_CACHE`, else
/// `HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
pub fn hub_cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("HF_HUB_CACHE")
        .or_else(|| var("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| var("XDG_CACHE_HOME").map(|c| c.join("huggingface/hub")))
        .or_else(|| var("HOME").map(|h| h.join(".cache/huggingface/hub")))
}

fn fetch_hub(repo_id: &str) -> Result<PathBuf, ModelError> {
    let cache_dir = hub_cache_dir().ok_or_else(|| ModelError::Hub {
        repo: repo_id.into(),
        file: HUB_FILES[0].into(),
        reason: "no cache directory: set HF_HOME".into(),
    })?;
    let cache = Cache::new(cache_dir);
    let cached = cache.repo(Repo::new(repo_id.to_string(), RepoType::Model));
    let mut paths = Vec::new();
    let mut api_repo = None;
    for file in HUB_FILES {
        if let Some(p) = cached.get(file) {
            paths.push(p);
            continue;
        }
        if offline() {
            return Err(ModelError::Offline {
                repo: repo_id.into(),
                file: (*file).into(),
            });
        }
        if api_repo.is_none() {
            let mut builder = ApiBuilder::from_cache(cache.clone()).with_progress(true);
            if let Ok(endpoint) = std::env::var("HF_ENDPOINT") {
                builder = builder.with_endpoint(endpoint);
            }
            let api = builder.build().map_err(|e| ModelError::Hub {
                repo: repo_id.into(),
                file: (*file).into(),
                reason: e.to_string(),
            })?;
            api_repo = Some(api.model(repo_id.to_string()));
        }
        if let Some(r) = &api_repo {
            // Said on standard error, where a terminal also gets the download's progress bar.
            writeln!(
                std::io::stderr(),
                "livecap: downloading {file} of {repo_id} from {} into {}",
                std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".into()),
                cache.path().display()
            )
            .ok();
            let p = r.get(file).map_err(|e| ModelError::Hub {
                repo: repo_id.into(),
                file: (*file).into(),
                reason: e.to_string(),
            })?;
            paths.push(p);
        }
    }
    // All files of one snapshot live in the same directory.
    paths
        .first()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .ok_or_else(|| ModelError::Hub {
            repo: repo_id.into(),
            file: HUB_FILES[0].into(),
            reason: "nothing was fetched".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_ids_and_paths() {
        assert_eq!(
            ModelSource::parse("tiny.en").ok(),
            Some(ModelSource::Hub("openai/whisper-tiny.en".into()))
        );
        assert_eq!(
            ModelSource::parse("distil-whisper/distil-small.en").ok(),
            Some(ModelSource::Hub("distil-whisper/distil-small.en".into()))
        );
        assert!(matches!(
            ModelSource::parse("./no/such/dir"),
            Err(ModelError::BadArg { .. })
        ));
        assert!(matches!(
            ModelSource::parse("tiny-ish"),
            Err(ModelError::BadArg { .. })
        ));
        let tmp = std::env::temp_dir();
        assert_eq!(
            ModelSource::parse(&tmp.display().to_string()).ok(),
            Some(ModelSource::Dir(tmp))
        );
    }
}
