//! Shared harness for the end-to-end tests: builds nothing, starts the real daemon on a temporary socket.
