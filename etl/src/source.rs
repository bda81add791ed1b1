//! Where a region's deliveries come from: a `file://` directory, an `s3://bucket/prefix` or an
//! `https://` (or `http://`) location whose index page links the files. Listing finds deliveries by
//! name; fetching streams a file to a local temporary file and hashes it on the way.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use lms_schemas::{ExtractKind, Rhf};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::EtlError;

/// A configured source: one region's drop, for one extract or all three.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub rhf: Rhf,
    /// `None`: the source takes all three extracts, told apart by file name.
    pub extract: Option<ExtractKind>,
    pub url: String,
    location: Location,
}

#[derive(Clone, Debug)]
enum Location {
    /// A local directory, read with plain file I/O on a blocking thread (an object store would hop
    /// to the blocking pool for every small chunk).
    Local {
        dir: std::path::PathBuf,
    },
    Store {
        store: Arc<dyn ObjectStore>,
        prefix: Path,
    },
    Http {
        client: reqwest::Client,
        base: url::Url,
    },
}

/// A file found at a source.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    pub name: String,
    pub size: Option<u64>,
}

/// A fetched file and the SHA-256 of its bytes. A remote file is copied here (the copy is deleted
/// when dropped); a local source's file is read where it is, through the handle it was hashed
/// through, so every pass reads the hashed bytes (a file replaced meanwhile is another file; one
/// changed in place is caught by [`Fetched::verify_unchanged`]).
#[derive(Debug)]
pub struct Fetched {
    content: Content,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug)]
enum Content {
    Copy(tempfile::NamedTempFile),
    InPlace { file: std::fs::File, modified: Option<std::time::SystemTime> },
}

/// Opens a fetched file from its start, once per checking pass; owned, so it can move to a thread.
#[derive(Debug)]
pub enum Opener {
    Path(std::path::PathBuf),
    Handle(std::fs::File),
}

impl Opener {
    pub fn open(&self) -> std::io::Result<std::fs::File> {
        use std::io::Seek;
        match self {
            Opener::Path(p) => std::fs::File::open(p),
            Opener::Handle(f) => {
                // A duplicate shares the position: passes run one after another, each from the start.
                let mut file = f.try_clone()?;
                file.seek(std::io::SeekFrom::Start(0))?;
                Ok(file)
            }
        }
    }
}

impl Fetched {
    pub fn opener(&self) -> std::io::Result<Opener> {
        Ok(match &self.content {
            Content::Copy(copy) => Opener::Path(copy.path().to_path_buf()),
            Content::InPlace { file, .. } => Opener::Handle(file.try_clone()?),
        })
    }

    /// `Err` where a local file was written to since it was hashed (its size or time changed): what
    /// was loaded from it may not be the hashed bytes.
    pub fn verify_unchanged(&self) -> Result<(), String> {
        let Content::InPlace { file, modified } = &self.content else { return Ok(()) };
        let now = file.metadata().map_err(|e| e.to_string())?;
        if now.len() != self.size || now.modified().ok() != *modified {
            return Err("the file changed while it was loaded; it is loaded again at the next pass".into());
        }
        Ok(())
    }
}

impl Source {
    /// A source at `url`: `file://DIR`, `s3://bucket/prefix` or `http(s)://host/path/`.
    pub fn new(name: &str, rhf: Rhf, extract: Option<ExtractKind>, url: &str) -> Result<Source, EtlError> {
        let location = if url.starts_with("http://") || url.starts_with("https://") {
            let mut base = url::Url::parse(url).map_err(|e| EtlError::Config(format!("source {name}: {url}: {e}")))?;
            if !base.path().ends_with('/') {
                base.set_path(&format!("{}/", base.path()));
            }
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(300))
                .build()
                .map_err(|e| EtlError::Config(format!("source {name}: {e}")))?;
            Location::Http { client, base }
        } else {
            let config = |e: lms_lake::LakeError| EtlError::Config(format!("source {name}: {e}"));
            match lms_lake::Location::parse(url).map_err(config)? {
                // A missing directory is an error at listing time, so a schedule retries it.
                lms_lake::Location::File { dir } => Location::Local { dir },
                lms_lake::Location::S3 { .. } => {
                    let opened = lms_lake::store::open(url).map_err(config)?;
                    Location::Store { store: opened.store, prefix: opened.root }
                }
            }
        };
        Ok(Source { name: name.to_string(), rhf, extract, url: url.to_string(), location })
    }

    /// A source over a given store (tests wrap stores to inject faults).
    pub fn with_store(name: &str, rhf: Rhf, store: Arc<dyn ObjectStore>, prefix: Path) -> Source {
        Source {
            name: name.to_string(),
            rhf,
            extract: None,
            url: format!("store:{prefix}"),
            location: Location::Store { store, prefix },
        }
    }

    /// An error of this source; its message (which may name a file) reaches the run record, so any
    /// identity number in it is masked.
    pub(crate) fn error(&self, e: impl std::fmt::Display) -> EtlError {
        let message = lms_schemas::identity::mask_identity_numbers(&e.to_string()).into_owned();
        EtlError::Source { source_name: self.name.clone(), message }
    }

    /// The files directly at the source (not in subdirectories), sorted by name.
    pub async fn list(&self) -> Result<Vec<Listed>, EtlError> {
        let mut out = match &self.location {
            Location::Local { dir } => {
                let dir = dir.clone();
                let listing = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<Listed>> {
                    let mut out = Vec::new();
                    for e in std::fs::read_dir(&dir)? {
                        let e = e?;
                        if e.file_type()?.is_file() {
                            out.push(Listed {
                                name: e.file_name().to_string_lossy().into_owned(),
                                size: Some(e.metadata()?.len()),
                            });
                        }
                    }
                    Ok(out)
                });
                listing.await.map_err(|e| self.error(e))?.map_err(|e| self.error(e))?
            }
            Location::Store { store, prefix } => {
                let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
                let listing = store.list_with_delimiter(prefix).await.map_err(|e| self.error(e))?;
                listing
                    .objects
                    .into_iter()
                    .filter_map(|m| Some(Listed { name: m.location.filename()?.to_string(), size: Some(m.size) }))
                    .collect::<Vec<_>>()
            }
            Location::Http { client, base } => {
                let page = client.get(base.clone()).send().await.and_then(|r| r.error_for_status());
                let text = page.map_err(|e| self.error(e))?.text().await.map_err(|e| self.error(e))?;
                links(&text).into_iter().map(|name| Listed { name, size: None }).collect()
            }
        };
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Streams one file to a local temporary file, hashing it.
    pub async fn fetch(&self, listed: &Listed) -> Result<Fetched, EtlError> {
        if let Location::Local { dir } = &self.location {
            let path = dir.join(&listed.name);
            let hashed = tokio::task::spawn_blocking(move || -> std::io::Result<Fetched> {
                use std::io::Read;
                let mut file = std::fs::File::open(&path)?;
                let modified = file.metadata()?.modified().ok();
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 1 << 20];
                let mut size = 0u64;
                loop {
                    let n = file.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    size += n as u64;
                }
                let content = Content::InPlace { file, modified };
                Ok(Fetched { content, sha256: hex::encode(hasher.finalize()), size })
            });
            return hashed.await.map_err(|e| self.error(e))?.map_err(|e| self.error(format!("{}: {e}", listed.name)));
        }
        let mut stream: futures::stream::BoxStream<'static, Result<bytes::Bytes, String>> = match &self.location {
            Location::Local { .. } => unreachable!("handled above"),
            Location::Store { store, prefix } => {
                let path = prefix.clone().join(listed.name.as_str());
                let got = store.get(&path).await.map_err(|e| self.error(e))?;
                got.into_stream().map_err(|e| e.to_string()).boxed()
            }
            Location::Http { client, base } => {
                let url = base.join(&percent_encoding::utf8_percent_encode(&listed.name, NAME).to_string());
                let url = url.map_err(|e| self.error(e))?;
                let response = client.get(url).send().await.and_then(|r| r.error_for_status());
                response.map_err(|e| self.error(e))?.bytes_stream().map_err(|e| e.to_string()).boxed()
            }
        };
        let file = tempfile::NamedTempFile::new().map_err(|e| self.error(e))?;
        // Buffered: each write to a tokio file is a hop to the blocking pool.
        let file_handle = tokio::fs::File::from_std(file.reopen().map_err(|e| self.error(e))?);
        let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file_handle);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.error(format!("{}: {e}", listed.name)))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            out.write_all(&chunk).await.map_err(|e| self.error(e))?;
        }
        out.flush().await.map_err(|e| self.error(e))?;
        Ok(Fetched { content: Content::Copy(file), sha256: hex::encode(hasher.finalize()), size })
    }
}

/// Characters to escape in a file name placed in a URL path.
const NAME: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The file names an index page links to (relative links without a `/`, decoded).
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in html.split("href=").skip(1) {
        let Some(quote) = part.chars().next().filter(|c| *c == '"' || *c == '\'') else { continue };
        let Some(end) = part[1..].find(quote) else { continue };
        let target = &part[1..1 + end];
        if target.is_empty() || target.contains(['/', '?', '#', ':']) {
            continue;
        }
        if let Ok(name) = percent_encoding::percent_decode_str(target).decode_utf8() {
            out.push(name.replace("&amp;", "&"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_of_an_index_page() {
        let html = r#"<ul><li><a href="HV_coding_2025-03.csv">x</a></li><li><a href='sub/'>sub/</a>
            <a href="HSO_coding_2020-06%20%281%29.csv">y</a><a href="../">up</a><a href="?C=N">sort</a>
            <a href="https://elsewhere/x.csv">abs</a></ul>"#;
        assert_eq!(super::links(html), vec!["HV_coding_2025-03.csv", "HSO_coding_2020-06 (1).csv"]);
    }
}
