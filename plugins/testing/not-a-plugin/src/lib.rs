//! A shared library that is not an Easel plugin: the host must refuse it
