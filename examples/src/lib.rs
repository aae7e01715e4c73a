//! Examples of embedding the Aperture gateway crates; see the `examples` targets.
#![deny(missing_docs)]
