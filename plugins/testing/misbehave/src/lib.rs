//! Test plugin that misbehaves on purpose (panic, abort, segfault, hang, runaway memory, exit) to
//! prove that the host isolates plugins: each failure must cost only the job that triggered it.
//!
//! `test-echo` is the well-behaved control: it returns its input, can sleep (with progress and
//! prompt cancellation) for scheduling tests, and can fail cleanly with a typed error.

use easel_sdk::{prelude::*, OperationBox};
use std::time::Duration;

/// Length of one sleep step in `test-echo`; cancellation is noticed within one step.
const STEP_MS: i64 = 10;
/// Size of each allocation in `test-memory`.
const MEMORY_CHUNK: usize = 64 << 20;
/// Page size assumed when touching memory (touching more often is harmless).
const PAGE: usize = 4096;

/// Which misbehaviour an operation performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Echo,
    Panic,
    Abort,
    Segfault,
    Hang,
    Memory,
    Exit,
    /// Writes a frame of bytes that are not a message onto the worker's channel to the daemon.
    Garbage,
    /// Stops its own process (SIGSTOP): alive, but answering nothing, not even a cancel.
    Stop,
}

impl Behaviour {
    pub const ALL: [Behaviour; 9] = [
        Behaviour::Echo,
        Behaviour::Panic,
        Behaviour::Abort,
        Behaviour::Segfault,
        Behaviour::Hang,
        Behaviour::Memory,
        Behaviour::Exit,
        Behaviour::Garbage,
        Behaviour::Stop,
    ];

    /// The operation id.
    pub fn id(self) -> &'static str {
        match self {
            Behaviour::Echo => "test-echo",
            Behaviour::Panic => "test-panic",
            Behaviour::Abort => "test-abort",
            Behaviour::Segfault => "test-segfault",
            Behaviour::Hang => "test-hang",
            Behaviour::Memory => "test-memory",
            Behaviour::Exit => "test-exit",
            Behaviour::Garbage => "test-garbage",
            Behaviour::Stop => "test-stop",
        }
    }

    fn title_and_description(self) -> (&'static str, &'static str) {
        match self {
            Behaviour::Echo => (
                "Echo",
                "Returns the input unchanged, optionally after sleeping or failing cleanly",
            ),
            Behaviour::Panic => ("Panic", "Panics inside the plugin"),
            Behaviour::Abort => ("Abort", "Aborts the process"),
            Behaviour::Segfault => ("Segfault", "Writes through a null pointer"),
            Behaviour::Hang => ("Hang", "Never returns and ignores cancellation"),
            Behaviour::Memory => ("Memory runaway", "Allocates memory until it is stopped"),
            Behaviour::Exit => ("Exit", "Calls exit(3) from inside the plugin"),
            Behaviour::Garbage => (
                "Garbage",
                "Writes bytes that are not a message onto the worker's channel",
            ),
            Behaviour::Stop => ("Stop answering", "Stops its own process with SIGSTOP"),
        }
    }
}

/// One misbehaving operation.
pub struct Misbehave(pub Behaviour);

impl Misbehave {
    fn echo(&self, job: &Job<'_>, host: &Host<'_>) -> Result<ImageBuf, PluginError> {
        let sleep_ms = job.params().int("sleep_ms")?;
        let fail = job.params().boolean("fail")?;
        host.check_cancelled()?;
        let mut slept = 0;
        while slept < sleep_ms {
            let step = STEP_MS.min(sleep_ms - slept);
            std::thread::sleep(Duration::from_millis(step as u64));
            slept += step;
            host.progress(slept as f32 / sleep_ms as f32, "sleeping".into());
            host.check_cancelled()?;
        }
        if fail {
            return Err(PluginError::invalid_input("asked to fail"));
        }
        Ok(copy_packed(job.image))
    }
}

/// The view's pixels, tightly packed, in the same format.
pub fn copy_packed(image: ImageView<'_>) -> ImageBuf {
    image.to_packed()
}

/// The descriptor of the worker's channel to the daemon (`easel_daemon`'s `WORKER_FD`).
const WORKER_FD: i32 = 3;

/// Writes a frame header announcing 32 bytes of JSON, then 32 bytes that are not JSON, onto the
/// worker's channel, then waits to be stopped.
fn write_garbage() -> ! {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&32u32.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&[0xff; 32]);
    // SAFETY: writes a buffer we own to a descriptor number; a bad descriptor only fails.
    unsafe {
        libc::write(WORKER_FD, bytes.as_ptr().cast(), bytes.len());
    }
    loop {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Allocates and touches 64 MiB chunks forever; only the host (or the allocator) stops it.
fn run_away_with_memory(host: &Host<'_>) -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; MEMORY_CHUNK];
        // Fresh pages are only reserved; writing one byte per page makes them resident.
        chunk.iter_mut().step_by(PAGE).for_each(|b| *b = 1);
        hoard.push(std::hint::black_box(chunk));
        host.log(
            LogLevel::Debug,
            format!("holding {} MiB", hoard.len() * (MEMORY_CHUNK >> 20))
                .as_str()
                .into(),
        );
    }
}

impl Operation for Misbehave {
    fn descriptor(&self) -> OperationDescriptor {
        let (title, description) = self.0.title_and_description();
        let d = OperationDescriptor::new(self.0.id(), title, "Testing", description)
            .working_format(PixelFormat::Rgba32F);
        match self.0 {
            Behaviour::Echo => d
                .param(ParamSpec::int(
                    "sleep_ms",
                    "Sleep (ms)",
                    "How long to sleep before answering, in 10 ms steps with progress",
                    0,
                    60_000,
                    0,
                ))
                .param(ParamSpec::boolean(
                    "fail",
                    "Fail",
                    "Return an invalid-input error (after any sleep) instead of the image",
                    false,
                ))
                // Not tileable: a tiled job would sleep once per tile and skew scheduling tests.
                .flags(flags::DETERMINISTIC),
            _ => d,
        }
    }

    fn run(&self, job: &Job<'_>, host: &Host<'_>) -> RResult<ImageBuf, PluginError> {
        match self.0 {
            Behaviour::Echo => self.echo(job, host).into(),
            Behaviour::Panic => panic!("testing-misbehave: test-panic panicked on purpose"),
            Behaviour::Abort => std::process::abort(),
            // SAFETY: none; faulting is the point. The volatile write cannot be optimised away.
            Behaviour::Segfault => unsafe {
                std::ptr::null_mut::<u8>().write_volatile(1);
                RResult::RErr(PluginError::plugin(
                    "survived a write through a null pointer",
                ))
            },
            Behaviour::Hang => loop {
                std::thread::sleep(Duration::from_millis(100));
            },
            Behaviour::Memory => run_away_with_memory(host),
            Behaviour::Exit => std::process::exit(3),
            Behaviour::Garbage => write_garbage(),
            // SAFETY: raising a signal in our own process; stopping is the point.
            Behaviour::Stop => unsafe {
                libc::raise(libc::SIGSTOP);
                RResult::RErr(PluginError::plugin("was stopped and continued"))
            },
        }
    }
}

/// Every operation of this plugin, boxed for the root module.
pub fn all_operations() -> Vec<OperationBox> {
    Behaviour::ALL
        .into_iter()
        .map(|b| boxed_operation(Misbehave(b)))
        .collect()
}

easel_sdk::export_plugin! {
    name: "testing-misbehave",
    version: env!("CARGO_PKG_VERSION"),
    operations: all_operations,
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_sdk::{abi_stable::std_types::RSlice, testing::TestHost, Param, ParamValue};
    use std::{
        os::unix::process::ExitStatusExt,
        process::{Command, Stdio},
        time::Instant,
    };

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_ne_bytes()).collect()
    }

    /// Runs `op` through its boxed trait object, as the host does.
    fn run(
        op_id: &str,
        sleep_ms: i64,
        fail: bool,
        image: ImageView<'_>,
        host: &TestHost,
    ) -> RResult<ImageBuf, PluginError> {
        let ops = all_operations();
        let op = ops
            .iter()
            .find(|o| o.descriptor().id == op_id)
            .expect("operation exists");
        let params = [
            Param {
                name: "sleep_ms".into(),
                value: ParamValue::int(sleep_ms),
            },
            Param {
                name: "fail".into(),
                value: ParamValue::boolean(fail),
            },
        ];
        let job = Job {
            operation: op_id.into(),
            image,
            mask: None.into(),
            references: RSlice::from_slice(&[]),
            params: RSlice::from_slice(&params),
        };
        op.run(&job, &host.host())
    }

    const PIXELS: [f32; 8] = [0.1, 0.2, 0.3, 1.0, 0.9, 0.8, 0.7, 0.5];

    fn with_image<R>(f: impl FnOnce(ImageView<'_>) -> R) -> R {
        // 2x1 RGBA f32 with 4 bytes of padding between pixels.
        let mut data = vec![0u8; 20 + 16];
        data[..16].copy_from_slice(&f32_bytes(&PIXELS[..4]));
        data[20..].copy_from_slice(&f32_bytes(&PIXELS[4..]));
        let layout = ImageLayout::new(2, 1, PixelFormat::Rgba32F, 20, 40).unwrap();
        f(ImageView::new(layout, &data).unwrap())
    }

    #[test]
    fn lists_every_operation_in_the_testing_category() {
        let ids: Vec<String> = all_operations()
            .iter()
            .map(|o| {
                let d = o.descriptor();
                assert_eq!(d.category, "Testing");
                d.id.into_string()
            })
            .collect();
        assert_eq!(
            ids,
            [
                "test-echo",
                "test-panic",
                "test-abort",
                "test-segfault",
                "test-hang",
                "test-memory",
                "test-exit",
                "test-garbage",
                "test-stop"
            ]
        );
    }

    #[test]
    fn echo_returns_the_input_packed() {
        let out = with_image(|img| run("test-echo", 0, false, img, &TestHost::new()))
            .into_result()
            .unwrap();
        assert_eq!(
            out.layout(),
            ImageLayout::packed(2, 1, PixelFormat::Rgba32F)
        );
        assert_eq!(out.view().to_rgba_f32(), PIXELS);
    }

    #[test]
    fn echo_fails_cleanly_when_asked() {
        let err = with_image(|img| run("test-echo", 0, true, img, &TestHost::new()))
            .into_result()
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert_eq!(err.message, "asked to fail");
    }

    #[test]
    fn echo_sleeps_with_progress() {
        let host = TestHost::new();
        let start = Instant::now();
        with_image(|img| run("test-echo", 100, false, img, &host))
            .into_result()
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(100));
        let progress: Vec<f32> = host.progress().iter().map(|p| p.0).collect();
        assert_eq!(progress.len(), 10, "{progress:?}");
        assert_eq!(progress.last(), Some(&1.0));
    }

    #[test]
    fn echo_stops_at_the_first_check_after_cancellation() {
        // Cancelled from the fourth check on; a 60 s sleep checks every 10 ms.
        let host = TestHost::new().cancel_after(3);
        let err = with_image(|img| run("test-echo", 60_000, false, img, &host))
            .into_result()
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Cancelled);
        assert_eq!(host.cancel_checks(), 4);
        assert_eq!(host.progress().len(), 3);
    }

    /// Runs one operation in a child process (this test binary, filtered to `child`) and
    /// returns how it ended and what it wrote to stderr.
    fn run_in_child(op: &str, shell_prefix: &str) -> (std::process::ExitStatus, String) {
        let exe = std::env::current_exe().unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{shell_prefix} exec \"$0\" --exact tests::child --nocapture"
            ))
            .arg(exe)
            .env("EASEL_MISBEHAVE_CHILD", op)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The child side of the tests below; does nothing in a normal test run.
    #[test]
    fn child() {
        if let Ok(op) = std::env::var("EASEL_MISBEHAVE_CHILD") {
            // Cancelled from the start: `test-hang` must ignore it.
            let host = TestHost::new().cancel_after(0);
            let result = with_image(|img| run(&op, 0, false, img, &host));
            panic!("{op} returned {:?}", result.into_result().map(|_| ()));
        }
    }

    #[test]
    fn panic_ends_the_process_at_the_ffi_boundary() {
        // abi_stable 0.11 "aborts" a panic that reaches the boundary with `exit(1)`, not
        // SIGABRT: a host must treat any worker exit during a job as a crash.
        let (status, stderr) = run_in_child("test-panic", "");
        assert_eq!(status.code(), Some(1), "{status:?} {stderr}");
        assert!(
            stderr.contains("test-panic panicked on purpose"),
            "{stderr}"
        );
        assert!(
            stderr.contains("Attempted to panic across the ffi boundary"),
            "{stderr}"
        );
    }

    #[test]
    fn abort_aborts() {
        let (status, stderr) = run_in_child("test-abort", "");
        assert_eq!(status.signal(), Some(6), "{status:?} {stderr}");
    }

    #[test]
    fn segfault_segfaults() {
        let (status, stderr) = run_in_child("test-segfault", "");
        assert_eq!(status.signal(), Some(11), "{status:?} {stderr}");
    }

    #[test]
    fn exit_exits_with_code_3() {
        let (status, stderr) = run_in_child("test-exit", "");
        assert_eq!(status.code(), Some(3), "{status:?} {stderr}");
    }

    #[test]
    fn memory_runs_until_the_limit_stops_it() {
        // 1 GiB of address space: the allocator fails after about a dozen chunks and aborts.
        let (status, stderr) = run_in_child("test-memory", "ulimit -v 1048576 &&");
        assert_eq!(status.signal(), Some(6), "{status:?} {stderr}");
        assert!(
            stderr.contains("memory allocation of 67108864 bytes failed"),
            "{stderr}"
        );
    }

    #[test]
    fn hang_ignores_cancellation_until_killed() {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args(["--exact", "tests::child", "--nocapture"])
            .env("EASEL_MISBEHAVE_CHILD", "test-hang")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(still_running, "test-hang ended on its own: {status:?}");
        assert_eq!(status.signal(), Some(9));
    }
}
