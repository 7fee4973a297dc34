//! The docker backend (in progress: provisioning is refused until it lands).

mod spec;

pub use spec::DockerSpec;

use crate::remote::backend::{Backend, BackendConfig, BackendError, Provision};
use crate::remote::{Node, RemoteError};

/// The docker backend.
#[derive(Debug)]
pub struct DockerBackend {
    _config: BackendConfig,
}

impl DockerBackend {
    /// The backend `config` describes.
    pub fn new(config: &BackendConfig) -> Self {
        DockerBackend {
            _config: config.clone(),
        }
    }
}

impl Backend for DockerBackend {
    fn name(&self) -> &str {
        "docker"
    }
    fn max_nodes(&self) -> Option<usize> {
        None
    }
    fn provision(&mut self, _req: &Provision<'_>) -> Result<Vec<Node>, BackendError> {
        Err(BackendError::remote(
            "docker backend",
            RemoteError::Host("the docker backend is not available yet".into()),
        ))
    }
    fn teardown(&mut self) -> Result<(), RemoteError> {
        Ok(())
    }
    fn leave(&mut self) {}
    fn heal(&self) -> Result<String, RemoteError> {
        Ok(String::new())
    }
}
