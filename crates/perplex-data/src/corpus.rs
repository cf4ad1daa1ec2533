//! Where the corpus lives and how its split files are read.
//!
//! A corpus directory holds three plain-text files in the PTB layout, `ptb.train.txt`,
//! `ptb.valid.txt` and `ptb.test.txt`: one sentence per line, words separated by whitespace.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::DataError;

/// The environment variable that names the corpus directory when no flag does.
pub const DATA_DIR_ENV: &str = "PERPLEX_DATA_DIR";

/// The directory used when neither the flag nor the environment names one.
pub const DEFAULT_DATA_DIR: &str = "data/ptb";

/// One of the three standard splits.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(into = "&'static str", try_from = "String")]
#[strum(serialize_all = "lowercase")]
pub enum Split {
    /// The split the model learns from; the vocabulary is built from it alone.
    Train,
    /// The held-out split watched during training.
    Valid,
    /// The held-out split reported once, at the end.
    Test,
}

impl Split {
    /// All splits in their conventional order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    /// The split's lowercase name, as used in file names and reports (strum derives it from
    /// the variant; serde and parsing go through it).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The file name of this split in a PTB-layout directory.
    pub fn file_name(self) -> String {
        format!("ptb.{}.txt", self.name())
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Split {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::parse(s, "split")
    }
}

impl TryFrom<String> for Split {
    type Error = DataError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

/// A directory of split files in the PTB layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Uses `root` as the corpus directory.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Picks the directory a user meant: the flag if given, else `PERPLEX_DATA_DIR`, else
    /// `data/ptb` under the current directory.
    pub fn resolve(flag: Option<&Path>) -> Self {
        match flag {
            Some(dir) => Self::new(dir),
            None => match std::env::var_os(DATA_DIR_ENV) {
                Some(dir) if !dir.is_empty() => Self::new(dir),
                _ => Self::new(DEFAULT_DATA_DIR),
            },
        }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of one split's file.
    pub fn split_path(&self, split: Split) -> PathBuf {
        self.root.join(split.file_name())
    }

    /// Whether all three split files exist.
    pub fn is_complete(&self) -> bool {
        Split::ALL.iter().all(|s| self.split_path(*s).is_file())
    }

    /// Refuses a path that exists but is not a directory (a `--data-dir` naming a file).
    pub fn check_is_dir(&self) -> Result<(), DataError> {
        if self.root.exists() && !self.root.is_dir() {
            return Err(DataError::NotADirectory {
                path: self.root.clone(),
            });
        }
        Ok(())
    }

    /// Reads one split's lines (a missing file says where the corpus should be).
    pub fn read_split(&self, split: Split) -> Result<Vec<String>, DataError> {
        self.check_is_dir()?;
        read_lines(&self.split_path(split)).map_err(|e| match e {
            DataError::NoSuchFile { path } => DataError::Missing { path },
            e => e,
        })
    }

    /// Reads all three splits.
    pub fn read_all(&self) -> Result<Corpus, DataError> {
        Ok(Corpus {
            train: self.read_split(Split::Train)?,
            valid: self.read_split(Split::Valid)?,
            test: self.read_split(Split::Test)?,
        })
    }

    /// Writes `corpus` here in the PTB layout (`ptb.{train,valid,test}.txt`, one line each
    /// and a final line break), creating the directory. Existing split files are replaced only
    /// with `overwrite`: pointed at a real corpus by mistake, this would wipe it.
    pub fn write(&self, corpus: &Corpus, overwrite: bool) -> Result<(), DataError> {
        self.check_is_dir()?;
        if !overwrite
            && let Some(path) = Split::ALL
                .iter()
                .map(|&s| self.split_path(s))
                .find(|p| p.exists())
        {
            return Err(DataError::WouldOverwrite { path });
        }
        std::fs::create_dir_all(&self.root).map_err(|e| DataError::io(&self.root, e))?;
        for split in Split::ALL {
            let path = self.split_path(split);
            let mut text = corpus.split(split).join("\n");
            text.push('\n');
            std::fs::write(&path, text).map_err(|e| DataError::io(&path, e))?;
        }
        Ok(())
    }
}

/// The three splits of a corpus as lines of text.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// Lines of the train split.
    pub train: Vec<String>,
    /// Lines of the validation split.
    pub valid: Vec<String>,
    /// Lines of the test split.
    pub test: Vec<String>,
}

impl Corpus {
    /// The lines of one split.
    pub fn split(&self, split: Split) -> &[String] {
        match split {
            Split::Train => &self.train,
            Split::Valid => &self.valid,
            Split::Test => &self.test,
        }
    }
}

/// Reads a text file as lines, refusing a missing, empty or non-UTF-8 file with an error that
/// names the file (and, for bad bytes, the line). A UTF-8 byte-order mark at the start is
/// dropped (it would otherwise become part of the first word).
///
/// Every line is kept, blank ones too (each still ends a sentence with `<eos>`, as in the
/// reference preprocessing); a file without a single word is refused as empty.
pub fn read_lines(path: &Path) -> Result<Vec<String>, DataError> {
    if path.is_dir() {
        return Err(DataError::IsADirectory {
            path: path.to_owned(),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::NoSuchFile {
            path: path.to_owned(),
        },
        _ => DataError::io(path, e),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        DataError::NotUtf8 {
            path: path.to_owned(),
            line,
        }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.iter().all(|l| l.trim().is_empty()) {
        return Err(DataError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_error_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.txt");
        std::fs::write(&path, b"fine line\nsecond\nbad \xff byte\n").unwrap();
        let err = read_lines(&path).unwrap_err();
        assert!(matches!(err, DataError::NotUtf8 { line: 3, .. }), "{err}");
        assert!(err.to_string().contains("bad.txt:3"), "{err}");
    }

    #[test]
    fn missing_and_empty_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.txt");
        assert!(matches!(
            read_lines(&missing),
            Err(DataError::NoSuchFile { .. })
        ));
        assert!(matches!(
            read_lines(dir.path()),
            Err(DataError::IsADirectory { .. })
        ));
        let split = DataDir::new(dir.path())
            .read_split(Split::Train)
            .unwrap_err();
        assert!(split.to_string().contains("--data-dir"), "{split}");
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, " \n\n").unwrap();
        assert!(matches!(read_lines(&empty), Err(DataError::Empty { .. })));
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_word() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bom.txt");
        std::fs::write(&path, "\u{feff}the cat\nsat\n").unwrap();
        assert_eq!(read_lines(&path).unwrap(), vec!["the cat", "sat"]);
    }

    #[test]
    fn writing_a_corpus_never_replaces_split_files_unasked() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("d"));
        let corpus = Corpus {
            train: vec!["a b".into()],
            valid: vec!["c".into()],
            test: vec!["d".into()],
        };
        data.write(&corpus, false).unwrap();
        let err = data.write(&corpus, false).unwrap_err();
        assert!(err.to_string().contains("--overwrite"), "{err}");
        data.write(&corpus, true).unwrap();
        let file = DataDir::new(data.split_path(Split::Train));
        let err = file.write(&corpus, true).unwrap_err();
        assert!(matches!(err, DataError::NotADirectory { .. }), "{err}");
    }

    #[test]
    fn flag_wins_over_environment() {
        let dir = DataDir::resolve(Some(Path::new("/some/where")));
        assert_eq!(dir.root(), Path::new("/some/where"));
        assert_eq!(
            dir.split_path(Split::Valid),
            Path::new("/some/where/ptb.valid.txt")
        );
    }

    /// Property: any bytes give lines or a named error, never a panic; accepted text keeps
    /// every line.
    #[test]
    fn random_bytes_never_panic_the_reader() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.txt");
        for _ in 0..2000 {
            let len = rng.random_range(0..64);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.random_range(0..4) {
                    0 => b'\n',
                    1 => b' ',
                    2 => rng.random_range(0x80..=0xff),
                    _ => rng.random_range(b'a'..=b'z'),
                })
                .collect();
            std::fs::write(&path, &bytes).unwrap();
            match read_lines(&path) {
                Ok(lines) => {
                    let text = String::from_utf8(bytes).unwrap();
                    assert_eq!(lines.len(), text.lines().count());
                    assert!(lines.iter().any(|l| !l.trim().is_empty()));
                }
                Err(e) => assert!(e.to_string().contains("fuzz.txt"), "{e}"),
            }
        }
    }
}
