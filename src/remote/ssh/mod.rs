//! The ssh backend (in progress: provisioning is refused until it lands).

mod spec;

pub use spec::SshSpec;

use crate::remote::backend::{Backend, BackendConfig, BackendError, Provision};
use crate::remote::{Node, RemoteError};

/// The ssh backend.
#[derive(Debug)]
pub struct SshBackend {
    _config: BackendConfig,
}

impl SshBackend {
    /// The backend `config` describes.
    pub fn new(config: &BackendConfig) -> Self {
        SshBackend {
            _config: config.clone(),
        }
    }
}

impl Backend for SshBackend {
    fn name(&self) -> &str {
        "ssh"
    }
    fn max_nodes(&self) -> Option<usize> {
        None
    }
    fn provision(&mut self, _req: &Provision<'_>) -> Result<Vec<Node>, BackendError> {
        Err(BackendError::remote(
            "ssh backend",
            RemoteError::Host("the ssh backend is not available yet".into()),
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
