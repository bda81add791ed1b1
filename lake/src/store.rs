//! Object stores from URLs: `file://` directories and `s3://bucket/prefix` (any S3-compatible store;
//! endpoint, region and credentials from the standard `AWS_*` environment variables). This is the
//! one parser of such URLs: the lake, the sources and the readers all go through [`Location`].

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use crate::error::LakeError;

/// Where a lake (or a source) is: a directory or a bucket and prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An absolute directory once opened ([`open_with`] makes it absolute).
    File {
        dir: PathBuf,
    },
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl Location {
    /// Parses `file://…` or `s3://bucket/prefix`.
    pub fn parse(url: &str) -> Result<Location, LakeError> {
        if let Some(dir) = url.strip_prefix("file://") {
            return Ok(Location::File { dir: PathBuf::from(if dir.is_empty() { "." } else { dir }) });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(LakeError::Config(format!("`{url}`: no bucket")));
            }
            return Ok(Location::S3 { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() });
        }
        Err(LakeError::Config(format!("`{url}`: expected file://… or s3://bucket/prefix")))
    }

    /// The URL again, without a trailing `/`: `file:///abs/dir` or `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        match self {
            Location::File { dir } => format!("file://{}", dir.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Location::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// The URL of the store itself, under which a query engine registers it: `s3://bucket`, or
    /// `file:///` for the local filesystem (which query engines read without registering).
    pub fn store_url(&self) -> String {
        match self {
            Location::File { .. } => "file:///".to_string(),
            Location::S3 { bucket, .. } => format!("s3://{bucket}"),
        }
    }

    /// The URL of a file given relative to this location (`activity/…parquet`).
    pub fn file_url(&self, relative: &str) -> String {
        format!("{}/{}", self.url(), relative.trim_start_matches('/'))
    }
}

/// A store opened from a URL: the store, the path of the URL within it, and the URL parsed.
#[derive(Clone, Debug)]
pub struct Opened {
    pub store: Arc<dyn ObjectStore>,
    pub root: Path,
    pub location: Location,
}

/// Opens the store behind a `file://` or `s3://` URL.
pub fn open(url: &str) -> Result<Opened, LakeError> {
    open_with(url, &[])
}

/// As [`open`], with S3 settings given as `object_store` configuration keys (`aws_endpoint`,
/// `aws_access_key_id`, …) on top of the environment's. A `file://` directory is created if absent
/// and made absolute.
pub fn open_with(url: &str, s3_options: &[(&str, &str)]) -> Result<Opened, LakeError> {
    let config = |e: &dyn std::fmt::Display| LakeError::Config(format!("{url}: {e}"));
    match Location::parse(url)? {
        Location::File { dir } => {
            std::fs::create_dir_all(&dir).map_err(|e| config(&e))?;
            let dir = dir.canonicalize().map_err(|e| config(&e))?;
            let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| config(&e))?;
            Ok(Opened { store: Arc::new(store), root: Path::default(), location: Location::File { dir } })
        }
        Location::S3 { bucket, prefix } => {
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
            let endpoint = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT")).ok();
            if let Some(endpoint) = endpoint {
                builder = builder.with_allow_http(endpoint.starts_with("http://")).with_endpoint(endpoint);
            }
            for (k, v) in s3_options {
                let key = k.parse().map_err(|e| LakeError::Config(format!("S3 option {k}: {e}")))?;
                builder = builder.with_config(key, *v);
            }
            let store = builder.build().map_err(|e| config(&e))?;
            let root = Path::parse(&prefix).map_err(|e| config(&e))?;
            Ok(Opened { store: Arc::new(store), root, location: Location::S3 { bucket, prefix } })
        }
    }
}
