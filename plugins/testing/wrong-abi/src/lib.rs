//! Test plugin built against another Easel ABI version: the host must refuse it
