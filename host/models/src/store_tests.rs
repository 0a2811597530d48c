//! The store's own logic — verification, the LRU under a budget, loading once — checked on the
//! real model files with a backend written for the test (no ONNX Runtime in this build needed).

use super::*;
use std::sync::atomic::AtomicUsize;

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models")
}

/// Loads nothing but the file's size; a "run" returns its inputs under the output names.
#[derive(Default)]
struct Counting {
    loads: AtomicUsize,
}

struct Echo {
    ports: Vec<Port>,
}

impl Backend for Counting {
    fn name(&self) -> String {
        "counting test backend".into()
    }
    fn load(&self, _id: &str, path: &Path) -> Result<Box<dyn LoadedModel>, ModelError> {
        std::fs::metadata(path).map_err(|e| ModelError::io(path, e))?;
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(Echo {
            ports: vec![Port {
                name: "x".into(),
                shape: vec![-1],
                element: Some("f32".into()),
            }],
        }))
    }
}

impl LoadedModel for Echo {
    fn inputs(&self) -> &[Port] {
        &self.ports
    }
    fn outputs(&self) -> &[Port] {
        &self.ports
    }
    fn run(
        &self,
        inputs: Vec<Tensor>,
        _outputs: &[String],
        _cancel: &AtomicBool,
    ) -> Result<Vec<Tensor>, ModelError> {
        Ok(inputs)
    }
}

fn store(budget: u64) -> (ModelStore, Arc<Counting>) {
    let backend = Arc::new(Counting::default());
    let config = ModelStoreConfig {
        folders: vec![models_dir()],
        memory_budget_bytes: budget,
        ..ModelStoreConfig::default()
    };
    (
        ModelStore::with_backend(config, backend.clone()).expect("store"),
        backend,
    )
}

fn size(file: &str) -> u64 {
    std::fs::metadata(models_dir().join(file))
        .expect("model file")
        .len()
}

#[test]
fn lru_under_a_budget_for_two_without_onnxruntime() {
    let budget = RESIDENT_SIZE_FACTOR
        * (size("obs_tcmonodepth_tcsmallnet_192x320.onnx") + size("obs_mediapipe.onnx"));
    let (store, backend) = store(budget);
    let x = || vec![Tensor::new("x", &[1], vec![1.0])];
    for id in [
        "llie-semantic-guided",
        "tcmonodepth",
        "llie-semantic-guided",
    ] {
        store.run(id, x(), &[]).expect("run");
    }
    assert_eq!(
        store.resident(),
        vec!["llie-semantic-guided", "tcmonodepth"]
    );
    // The second llie run found it resident: two loads so far.
    assert_eq!(backend.loads.load(Ordering::SeqCst), 2);
    store.run("mediapipe-meet", x(), &[]).expect("run");
    assert_eq!(
        store.resident(),
        vec!["mediapipe-meet", "llie-semantic-guided"]
    );
    assert!(store.resident_bytes() <= budget);
    store.unload_all();
    assert!(store.resident().is_empty());
}

#[test]
fn a_file_that_fails_verification_is_never_loaded() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("fake.onnx"), b"not the model").expect("write");
    std::fs::write(
        dir.path().join("manifest.toml"),
        "[[model]]\nid = \"fake\"\nfile = \"fake.onnx\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nlicence = \"MIT\"\n\
         source = \"test\"\ntask = \"test\"\n",
    )
    .expect("manifest");
    let backend = Arc::new(Counting::default());
    let config = ModelStoreConfig {
        folders: vec![dir.path().to_path_buf()],
        ..ModelStoreConfig::default()
    };
    let store = ModelStore::with_backend(config, backend.clone()).expect("store");
    let err = store
        .run("fake", vec![Tensor::new("x", &[1], vec![0.0])], &[])
        .expect_err("a wrong sha256 must refuse the model");
    assert!(matches!(err, ModelError::ChecksumMismatch { .. }), "{err}");
    assert_eq!(backend.loads.load(Ordering::SeqCst), 0);
}

/// A backend whose one model takes `[batch, 3, h, w]` with every size free (or `fails` when
/// that is not the size it wants); it records the shapes it was run with.
#[derive(Default)]
struct Recording {
    shapes: Arc<Mutex<Vec<Vec<i64>>>>,
    fails: bool,
}

struct Recorded {
    ports: Vec<Port>,
    shapes: Arc<Mutex<Vec<Vec<i64>>>>,
    fails: bool,
}

impl Backend for Recording {
    fn name(&self) -> String {
        "recording test backend".into()
    }
    fn load(&self, _id: &str, _path: &Path) -> Result<Box<dyn LoadedModel>, ModelError> {
        Ok(Box::new(Recorded {
            ports: vec![Port {
                name: "x".into(),
                shape: vec![-1, 3, -1, -1],
                element: Some("f32".into()),
            }],
            shapes: self.shapes.clone(),
            fails: self.fails,
        }))
    }
}

impl LoadedModel for Recorded {
    fn inputs(&self) -> &[Port] {
        &self.ports
    }
    fn outputs(&self) -> &[Port] {
        &self.ports
    }
    fn run(
        &self,
        inputs: Vec<Tensor>,
        _outputs: &[String],
        _cancel: &AtomicBool,
    ) -> Result<Vec<Tensor>, ModelError> {
        let shape = inputs[0].shape.to_vec();
        assert_eq!(inputs[0].data.len() as i64, shape.iter().product::<i64>());
        self.shapes.lock().push(shape);
        if self.fails {
            return Err(ModelError::BadInput {
                id: "llie-semantic-guided".into(),
                message: "wants at least 128 pixels".into(),
            });
        }
        Ok(inputs)
    }
}

#[test]
fn warming_runs_free_sizes_small_and_skips_the_run_once_a_job_came() {
    let warm = |fails: bool, busy: bool| {
        let backend = Arc::new(Recording {
            fails,
            ..Recording::default()
        });
        let config = ModelStoreConfig {
            folders: vec![models_dir()],
            ..ModelStoreConfig::default()
        };
        let store = ModelStore::with_backend(config, backend.clone()).expect("store");
        let outcome = store.warm("llie-semantic-guided", &AtomicBool::new(busy));
        let shapes = backend.shapes.lock().clone();
        (outcome.is_ok(), shapes, store.resident())
    };
    let resident = vec!["llie-semantic-guided".to_string()];
    assert_eq!(
        warm(false, false),
        (
            true,
            vec![vec![1, 3, WARM_FREE_DIM, WARM_FREE_DIM]],
            resident.clone()
        )
    );
    // A size the model refuses still leaves it loaded, and warm.
    assert_eq!(
        warm(true, false),
        (
            true,
            vec![vec![1, 3, WARM_FREE_DIM, WARM_FREE_DIM]],
            resident.clone()
        )
    );
    assert_eq!(warm(false, true), (true, vec![], resident));
}
