//! (owned by the resource/discovery work; in progress)
