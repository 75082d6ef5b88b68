//! The newest key directory checkpoint this device accepted, kept in a file beside the
//! keys (`directory.checkpoint`: format.md §14's bytes, replaced atomically under a
//! lock), so that a rollback or a fork of the directory is caught across runs and
//! processes, not only within one.

use virgil_client::ClientError;
use virgil_client::directory::CheckpointStore;
use virgil_keystore::KeyStoreError;
use virgil_keystore::state_file::StateFile;

/// The file's name in the key directory.
pub(crate) const CHECKPOINT_FILE: &str = "directory.checkpoint";

/// A [`CheckpointStore`] in a file.
pub(crate) struct FileCheckpoints(StateFile);

impl FileCheckpoints {
    pub(crate) fn new(path: std::path::PathBuf) -> Self {
        Self(StateFile::new(
            path,
            virgil_card::checkpoint::MAX_SIGNED_LEN,
        ))
    }
}

fn store_error(error: KeyStoreError) -> ClientError {
    ClientError::CheckpointStore(error.to_string())
}

impl CheckpointStore for FileCheckpoints {
    fn read(&self) -> Result<Option<Vec<u8>>, ClientError> {
        self.0.read().map_err(store_error)
    }

    fn update(
        &self,
        change: &mut virgil_client::directory::CheckpointChange<'_>,
    ) -> Result<(), ClientError> {
        let mut refused = None;
        self.0
            .update(|kept| -> Result<(Option<Vec<u8>>, ()), KeyStoreError> {
                match change(kept) {
                    Ok(new) => Ok((new, ())),
                    Err(error) => {
                        refused = Some(error);
                        Ok((None, ()))
                    }
                }
            })
            .map_err(store_error)?;
        refused.map_or(Ok(()), Err)
    }
}
