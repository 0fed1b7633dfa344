//! gpumark: the mark phase of a tracing garbage collector, faithful to the Go
//! runtime's concurrent marker, whose bulk scanning can run on a GPU.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod assist;
pub mod barrier;
pub mod baseline;
#[cfg(not(loom))] // the loom build models the assist queue alone
pub mod collector;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod heap;
pub mod import;
pub mod mark;
pub mod pacer;
pub mod scan;
pub mod verify;

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
