//! Test plugin whose root module has a different layout: the host must refuse it
