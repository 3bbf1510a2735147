//! Where the email channel finds a recipient's address: a port the node wires to the identity
//! service.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

/// The boxed future of a directory lookup.
pub type DirectoryFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, DirectoryError>> + Send + 'a>>;

/// A lookup that failed for a reason worth retrying (the directory is down); the delivery is
/// tried again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("directory lookup failed: {0}")]
pub struct DirectoryError(pub String);

/// Users' email addresses.
pub trait Directory: Send + Sync + 'static {
    /// The address of `user_id`, or `None` when the user has none (or is unknown); then the
    /// email delivery fails for good.
    fn email<'a>(&'a self, user_id: &'a str) -> DirectoryFuture<'a>;
}

/// A fixed table of addresses: for a single-node setup configured by hand, and for fixtures.
#[derive(Debug, Clone, Default)]
pub struct StaticDirectory {
    addresses: HashMap<String, String>,
}

impl StaticDirectory {
    pub fn new(addresses: impl IntoIterator<Item = (String, String)>) -> StaticDirectory {
        StaticDirectory { addresses: addresses.into_iter().collect() }
    }
}

impl Directory for StaticDirectory {
    fn email<'a>(&'a self, user_id: &'a str) -> DirectoryFuture<'a> {
        let address = self.addresses.get(user_id).cloned();
        Box::pin(async move { Ok(address) })
    }
}
