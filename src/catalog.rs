//! Finding sequence files: the config dir's `sequences/`, then `./sequences/`,
//! then the built-in default. The first file to define a name wins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::domain::sequence::{Sequence, SequenceError};

/// The default sequence compiled into the binary.
pub const BUILTIN_DEFAULT: &str = include_str!("../sequences/default.toml");

/// Where a sequence was loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file on disk.
    File(PathBuf),
    /// Compiled in.
    Builtin,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Builtin => f.write_str("(built-in)"),
        }
    }
}

/// Why sequences could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A file is invalid.
    #[error(transparent)]
    Invalid(#[from] SequenceError),
    /// A file or folder cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// Path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The sequences could not be loaded (the original error, verbatim).
    #[error("{0}")]
    Broken(String),
    /// No sequence of that name.
    #[error("no sequence named `{name}` (known: {known})")]
    Unknown {
        /// Asked for.
        name: String,
        /// Available names.
        known: String,
    },
}

/// All sequences visible to this process.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    sequences: BTreeMap<String, (Sequence, Origin)>,
    /// Why loading failed, for catalogs built with [`Catalog::load_or_broken`]:
    /// commands that need no sequence still work, the others report this.
    broken: Option<String>,
}

/// Parses one sequence file.
pub fn load_file(path: &Path) -> Result<Sequence, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Sequence::parse(&path.display().to_string(), &text, &stem)?)
}

impl Catalog {
    /// Loads every `*.toml` from the search path. Any invalid file is an error:
    /// a sequence that silently vanished would stop follow-ups.
    pub fn load(config_dir: &Path) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for dir in [config_dir.join("sequences"), PathBuf::from("sequences")] {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(CatalogError::Read { path: dir, source }),
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            for file in files {
                let seq = load_file(&file)?;
                catalog
                    .sequences
                    .entry(seq.name.clone())
                    .or_insert((seq, Origin::File(file)));
            }
        }
        if !catalog.sequences.contains_key("default") {
            let seq = Sequence::parse("(built-in default.toml)", BUILTIN_DEFAULT, "default")?;
            catalog
                .sequences
                .insert(seq.name.clone(), (seq, Origin::Builtin));
        }
        Ok(catalog)
    }

    /// Like [`Catalog::load`], but a failure is remembered rather than
    /// returned, so commands that never touch a sequence (listing, export)
    /// keep working while a sequence file is being fixed.
    pub fn load_or_broken(config_dir: &Path) -> Catalog {
        Catalog::load(config_dir).unwrap_or_else(|e| Catalog {
            sequences: BTreeMap::new(),
            broken: Some(e.to_string()),
        })
    }

    /// A catalog of just `seq`, for rendering a file outside the search path.
    pub fn single(seq: Sequence, origin: Origin) -> Catalog {
        let mut catalog = Catalog::default();
        catalog.sequences.insert(seq.name.clone(), (seq, origin));
        catalog
    }

    /// A sequence by name.
    pub fn get(&self, name: &str) -> Result<&Sequence, CatalogError> {
        if let Some(why) = &self.broken {
            return Err(CatalogError::Broken(why.clone()));
        }
        self.sequences
            .get(name)
            .map(|(s, _)| s)
            .ok_or_else(|| CatalogError::Unknown {
                name: name.to_string(),
                known: self
                    .sequences
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Every sequence with where it came from, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&Sequence, &Origin)> {
        self.sequences.values().map(|(s, o)| (s, o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lint::{lint, sample_lead};
    use crate::domain::render::Sender;

    #[test]
    fn builtin_default_is_clean() {
        let seq = Sequence::parse("default.toml", BUILTIN_DEFAULT, "default").unwrap();
        assert_eq!(seq.steps.len(), 7);
        let sender = Sender {
            name: "Sam".into(),
            company: "Acme".into(),
            booking_url: "https://cal.example.com/sam".into(),
        };
        let warnings = lint(&seq, &sample_lead(chrono::DateTime::UNIX_EPOCH), &sender);
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
