//! gpumark: the mark phase of a tracing garbage collector, faithful to the Go
//! runtime's concurrent marker, whose bulk scanning can run on a GPU.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod assist;
pub mod baseline;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod heap;
pub mod mark;
pub mod pacer;
pub mod scan;
pub mod verify;
