//! The Easel storyboard source (see `register`).

pub fn register() {}
