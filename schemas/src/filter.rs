//! (owned by the filter/path/PATCH work; in progress)
