//! Test plugin that misbehaves on purpose (panic, abort, segfault, hang, runaway memory) to prove isolation
