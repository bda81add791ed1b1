//! Object stores from URLs: `file://` directories and `s3://bucket/prefix` (any S3-compatible store;
//! endpoint, region and credentials from the standard `AWS_*` environment variables).

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use crate::LakeError;

/// Opens the store behind a `file://` or `s3://` URL and the path of the URL within it.
pub fn open(url: &str) -> Result<(Arc<dyn ObjectStore>, Path), LakeError> {
    open_with(url, &[])
}

/// As [`open`], with S3 settings given as `object_store` configuration keys (`aws_endpoint`,
/// `aws_access_key_id`, …) on top of the environment's.
pub fn open_with(url: &str, s3_options: &[(&str, &str)]) -> Result<(Arc<dyn ObjectStore>, Path), LakeError> {
    if let Some(dir) = url.strip_prefix("file://") {
        let dir = std::path::Path::new(if dir.is_empty() { "." } else { dir });
        std::fs::create_dir_all(dir).map_err(|e| LakeError::Config(format!("{url}: {e}")))?;
        let dir = dir.canonicalize().map_err(|e| LakeError::Config(format!("{url}: {e}")))?;
        let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| LakeError::Config(format!("{url}: {e}")))?;
        return Ok((Arc::new(store), Path::default()));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let endpoint = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT")).ok();
        if let Some(endpoint) = endpoint {
            builder = builder.with_allow_http(endpoint.starts_with("http://")).with_endpoint(endpoint);
        }
        for (k, v) in s3_options {
            let key = k.parse().map_err(|e| LakeError::Config(format!("S3 option {k}: {e}")))?;
            builder = builder.with_config(key, *v);
        }
        let store = builder.build().map_err(|e| LakeError::Config(format!("{url}: {e}")))?;
        let prefix = Path::parse(prefix.trim_end_matches('/')).map_err(|e| LakeError::Config(format!("{url}: {e}")))?;
        return Ok((Arc::new(store), prefix));
    }
    Err(LakeError::Config(format!("`{url}`: expected file://… or s3://bucket/prefix")))
}
