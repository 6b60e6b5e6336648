//! An image build that cannot be made as defined: [`ImageError`] (re-exported as
//! `perseus::images::ImageError`).

use std::path::PathBuf;

/// An image build that cannot be made as defined (exit code 2, [`super::Error::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A build context that is not an absolute folder.
    #[error("the build context of image {image} must be an absolute folder, not '{}'", context.display())]
    RelativeContext {
        /// The image.
        image: String,
        /// Its context.
        context: PathBuf,
    },
    /// A Dockerfile that is not a file name inside its context.
    #[error("the Dockerfile of image {image} must be a file name inside {}, not '{dockerfile}'", context.display())]
    DockerfileOutside {
        /// The image.
        image: String,
        /// Its context.
        context: PathBuf,
        /// The Dockerfile as written.
        dockerfile: String,
    },
}
