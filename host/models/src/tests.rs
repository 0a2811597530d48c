//! Tests of the model store against the real models in `../shared/models` and the real runtime.

use super::*;
use crate::onnx::find_onnxruntime;
use std::fs;

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models")
}

fn config(folders: Vec<PathBuf>, budget: u64) -> ModelStoreConfig {
    ModelStoreConfig {
        folders,
        memory_budget_bytes: budget,
        intra_threads: 1,
        onnxruntime: None,
        providers: Vec::new(),
    }
}

fn store() -> ModelStore {
    ModelStore::new(config(vec![models_dir()], 1 << 30)).expect("store")
}

const LLIE: &str = "llie-semantic-guided";
const LLIE_FILE: &str = "obs_semantic_guided_llie_180x324.onnx";

fn llie_input(value: f32) -> Tensor {
    Tensor::new("input", &[1, 3, 180, 324], vec![value; 3 * 180 * 324])
}

fn user_manifest(dir: &Path, id: &str, file: &str, sha: &str) {
    let text = format!(
        "[[model]]\nid = \"{id}\"\nfile = \"{file}\"\nsha256 = \"{sha}\"\nlicence = \"MIT\"\n\
         source = \"test copy\"\ntask = \"test\"\n\
         inputs = [{{ name = \"input\", shape = [1, 3, 180, 324] }}]\n\
         outputs = [{{ name = \"output\", shape = [1, 3, 180, 324] }}]\n"
    );
    fs::write(dir.join("manifest.toml"), text).expect("write manifest");
}

#[test]
fn built_in_manifest_lists_every_shared_model_and_each_resolves() {
    let store = store();
    let entries = store.entries();
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    for id in [
        "isnet-general-small",
        "u2netp",
        "mediapipe-meet",
        "selfie-segmentation",
        "sinet",
        "realesr-general-x4v3",
        "realesrgan-x4plus",
        "swin2sr-x2",
        "llie-semantic-guided",
        "tbefn",
        "uretinex",
        "tcmonodepth",
    ] {
        assert!(ids.contains(&id), "manifest lacks {id}");
    }
    assert_eq!(entries.len(), 12);
    for entry in &entries {
        let path = entry
            .path
            .as_ref()
            .unwrap_or_else(|| panic!("{} does not resolve", entry.id));
        assert!(path.is_file(), "{}", path.display());
        assert_eq!(entry.sha256.len(), 64);
        assert!(!entry.inputs.is_empty() && !entry.outputs.is_empty());
        assert!(!entry.licence.is_empty() && !entry.source.is_empty());
    }
    // Every model file in the shared folder is in the manifest.
    for file in fs::read_dir(models_dir()).expect("models dir") {
        let name = file
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".onnx") || name.ends_with(".ort") {
            assert!(entries.iter().any(|e| e.file == name), "{name} not listed");
        }
    }
    let json = serde_json::to_string(&entries).expect("json");
    assert!(json.contains("\"exposure_ratio_3to5\""));
}

#[test]
fn verify_accepts_real_model_and_remembers_it() {
    let store = store();
    let path = store.verify(LLIE).expect("verify");
    assert!(path.ends_with(LLIE_FILE));
    assert_eq!(store.hashes.lock().len(), 1);
    assert_eq!(store.verify(LLIE).expect("verify again"), path);
    // The tcmonodepth file (790 KB) verifies too.
    store.verify("tcmonodepth").expect("verify tcmonodepth");
}

#[test]
fn checksum_mismatch_for_a_copy_under_a_user_manifest_with_a_wrong_sha() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::copy(models_dir().join(LLIE_FILE), dir.path().join("copy.onnx")).expect("copy");
    user_manifest(dir.path(), "llie-copy", "copy.onnx", &"ab".repeat(32));
    let store = ModelStore::new(config(
        vec![models_dir(), dir.path().to_path_buf()],
        1 << 30,
    ))
    .expect("store");
    let err = store.verify("llie-copy").expect_err("must mismatch");
    match &err {
        ModelError::ChecksumMismatch {
            id,
            path,
            expected,
            actual,
        } => {
            assert_eq!(id, "llie-copy");
            assert_eq!(path, &dir.path().join("copy.onnx"));
            assert_eq!(expected, &"ab".repeat(32));
            assert!(actual.starts_with("0038a073bcf60831"));
        }
        other => panic!("wrong error {other:?}"),
    }
    assert_eq!(err.kind(), easel_sdk::ErrorKind::Model);
    let message = err.to_string();
    assert!(
        message.contains("llie-copy") && message.contains("copy.onnx"),
        "{message}"
    );
    // And it is refused for running too.
    assert!(matches!(
        store.run("llie-copy", vec![llie_input(0.2)], &[]),
        Err(ModelError::ChecksumMismatch { .. })
    ));
    assert!(store.resident().is_empty());
}

#[test]
fn a_file_changed_after_verification_is_checked_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("copy.onnx");
    fs::copy(models_dir().join(LLIE_FILE), &copy).expect("copy");
    user_manifest(
        dir.path(),
        "llie-copy",
        "copy.onnx",
        "0038a073bcf60831041cd2dce649f5267e71d7f6e650725ceccdd2c22bd16e44",
    );
    let store = ModelStore::new(config(vec![dir.path().to_path_buf()], 1 << 30)).expect("store");
    assert_eq!(store.verify("llie-copy").expect("verify"), copy);
    // Same size, one byte changed, a different mtime.
    let mut bytes = fs::read(&copy).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&copy, &bytes).expect("write");
    let file = fs::File::options().write(true).open(&copy).expect("open");
    file.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .expect("set mtime");
    drop(file);
    assert!(matches!(
        store.verify("llie-copy"),
        Err(ModelError::ChecksumMismatch { .. })
    ));
}

#[test]
fn user_manifest_overrides_built_in_entry_by_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::copy(models_dir().join(LLIE_FILE), dir.path().join("mine.onnx")).expect("copy");
    user_manifest(
        dir.path(),
        LLIE,
        "mine.onnx",
        "0038a073bcf60831041cd2dce649f5267e71d7f6e650725ceccdd2c22bd16e44",
    );
    let store = ModelStore::new(config(
        vec![models_dir(), dir.path().to_path_buf()],
        1 << 30,
    ))
    .expect("store");
    let entries = store.entries();
    assert_eq!(entries.len(), 12);
    let llie = entries.iter().find(|e| e.id == LLIE).expect("llie");
    assert_eq!(llie.source, "test copy");
    assert_eq!(
        llie.path.as_deref(),
        Some(dir.path().join("mine.onnx").as_path())
    );
}

#[test]
fn bad_user_manifest_is_reported_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path().join("manifest.toml"),
        "[[model]]\nid = \"x\"\nfile = \"x.onnx\"\nsha256 = \"abc\"\n",
    )
    .expect("write");
    let err = match ModelStore::new(config(vec![dir.path().to_path_buf()], 1 << 30)) {
        Err(e) => e,
        Ok(_) => panic!("a short sha256 must be refused"),
    };
    assert!(matches!(err, ModelError::Manifest { .. }));
    let message = err.to_string();
    assert!(
        message.contains("manifest.toml") && message.contains("sha256"),
        "{message}"
    );
}

#[test]
fn missing_file_lists_where_it_looked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ModelStore::new(config(vec![dir.path().to_path_buf()], 1 << 30)).expect("store");
    let entry = store.entry(LLIE).expect("entry");
    assert!(entry.path.is_none());
    let err = store.verify(LLIE).expect_err("missing");
    match &err {
        ModelError::MissingFile { searched, .. } => {
            assert_eq!(searched, &vec![dir.path().join(LLIE_FILE)])
        }
        other => panic!("wrong error {other:?}"),
    }
    assert_eq!(err.kind(), easel_sdk::ErrorKind::Environment);
}

#[test]
fn runs_llie_on_a_constant_input() {
    let store = store();
    let out = store
        .run(LLIE, vec![llie_input(0.2)], &["output".to_string()])
        .expect("run");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].name.as_str(), "output");
    assert_eq!(&out[0].shape[..], &[1, 3, 180, 324]);
    assert_eq!(out[0].data.len(), 3 * 180 * 324);
    assert!(out[0]
        .data
        .iter()
        .all(|v| v.is_finite() && (-0.01..=1.01).contains(v)));
    // A low-light enhancer brightens a dark grey.
    let mean = out[0].data.iter().sum::<f32>() / out[0].data.len() as f32;
    assert!(mean > 0.2, "mean {mean}");
    // Empty `outputs` means all of them (llie has one).
    let all = store
        .run(LLIE, vec![llie_input(0.2)], &[])
        .expect("run all");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].data, out[0].data);
    assert_eq!(store.resident(), vec![LLIE.to_string()]);
}

#[test]
fn two_input_model_runs() {
    let store = store();
    let n = 3 * 180 * 320;
    let out = store
        .run(
            "uretinex",
            vec![
                Tensor::new("input", &[1, 3, 180, 320], vec![0.1; n]),
                Tensor::new("exposure_ratio_3to5", &[1], vec![5.0]),
            ],
            &[],
        )
        .expect("run uretinex");
    assert_eq!(&out[0].shape[..], &[1, 3, 180, 320]);
    assert!(out[0].data.iter().all(|v| v.is_finite()));
}

#[test]
#[ignore = "slow: swin2sr-x2 takes about 12 s to load on 2 cores (ORT itself, same in Python); run with --ignored"]
fn ort_format_model_loads_and_runs() {
    let store = store();
    let input = Tensor::new("pixel_values", &[1, 3, 16, 16], vec![0.5; 3 * 16 * 16]);
    let out = store
        .run("swin2sr-x2", vec![input], &[])
        .expect("run swin2sr");
    assert_eq!(out[0].name.as_str(), "reconstruction");
    assert_eq!(&out[0].shape[..], &[1, 3, 32, 32]);
    let mean = out[0].data.iter().sum::<f32>() / out[0].data.len() as f32;
    assert!(
        (mean - 0.5).abs() < 0.1,
        "a flat grey stays grey, got {mean}"
    );
}

#[test]
fn bad_inputs_are_refused_with_clear_messages() {
    let store = store();
    let bad = |inputs: Vec<Tensor>, outputs: &[String]| -> String {
        match store.run(LLIE, inputs, outputs) {
            Err(e @ ModelError::BadInput { .. }) => {
                assert_eq!(e.kind(), easel_sdk::ErrorKind::Plugin);
                e.to_string()
            }
            other => panic!("expected BadInput, got {other:?}"),
        }
    };
    let n = 3 * 180 * 324;
    let m = bad(
        vec![Tensor::new("image", &[1, 3, 180, 324], vec![0.0; n])],
        &[],
    );
    assert!(
        m.contains("no input `image`") && m.contains("`input` [1, 3, 180, 324]"),
        "{m}"
    );
    let m = bad(
        vec![Tensor::new("input", &[3, 180, 324], vec![0.0; n])],
        &[],
    );
    assert!(m.contains("rank 3") && m.contains("rank 4"), "{m}");
    let m = bad(
        vec![Tensor::new(
            "input",
            &[1, 3, 180, 320],
            vec![0.0; 3 * 180 * 320],
        )],
        &[],
    );
    assert!(
        m.contains("[1, 3, 180, 320]") && m.contains("expects [1, 3, 180, 324]"),
        "{m}"
    );
    let m = bad(
        vec![Tensor::new("input", &[1, 3, 180, 324], vec![0.0; 10])],
        &[],
    );
    assert!(m.contains("10 values"), "{m}");
    let m = bad(vec![llie_input(0.1), llie_input(0.1)], &[]);
    assert!(m.contains("twice"), "{m}");
    let m = bad(vec![], &[]);
    assert!(m.contains("missing input") && m.contains("`input`"), "{m}");
    let m = bad(vec![llie_input(0.1)], &["mask".to_string()]);
    assert!(
        m.contains("no output `mask`") && m.contains("`output`"),
        "{m}"
    );
    // uretinex needs both of its inputs.
    let err = store
        .run(
            "uretinex",
            vec![Tensor::new(
                "input",
                &[1, 3, 180, 320],
                vec![0.0; 3 * 180 * 320],
            )],
            &[],
        )
        .expect_err("missing exposure");
    assert!(err.to_string().contains("exposure_ratio_3to5"), "{err}");
}

#[test]
fn unknown_model_names_the_id() {
    let store = store();
    let err = store
        .run("no-such-model", vec![], &[])
        .expect_err("unknown");
    assert!(matches!(&err, ModelError::UnknownModel { id } if id == "no-such-model"));
    assert!(err.to_string().contains("`no-such-model`"), "{err}");
    assert_eq!(err.kind(), easel_sdk::ErrorKind::Model);
    assert!(matches!(
        store.verify("no-such-model"),
        Err(ModelError::UnknownModel { .. })
    ));
    assert!(matches!(
        store.info("no-such-model"),
        Err(ModelError::UnknownModel { .. })
    ));
    let plugin_error: easel_sdk::PluginError = err.into();
    assert_eq!(plugin_error.kind, easel_sdk::ErrorKind::Model);
}

#[test]
fn lru_eviction_keeps_only_the_most_recent_under_a_tiny_budget() {
    let store = ModelStore::new(config(vec![models_dir()], 1)).expect("store");
    store.run(LLIE, vec![llie_input(0.2)], &[]).expect("llie");
    assert_eq!(store.resident(), vec![LLIE.to_string()]);
    let mp = Tensor::new("input_1:0", &[1, 144, 256, 3], vec![0.5; 144 * 256 * 3]);
    let out = store
        .run("mediapipe-meet", vec![mp], &[])
        .expect("mediapipe");
    assert_eq!(&out[0].shape[..], &[1, 144, 256, 2]);
    assert_eq!(store.resident(), vec!["mediapipe-meet".to_string()]);
    // Back to llie: it is reloaded and mediapipe goes.
    store
        .run(LLIE, vec![llie_input(0.2)], &[])
        .expect("llie again");
    assert_eq!(store.resident(), vec![LLIE.to_string()]);
}

#[test]
fn lru_order_under_a_budget_that_fits_two() {
    let llie = fs::metadata(models_dir().join(LLIE_FILE))
        .expect("llie")
        .len();
    let tcm = fs::metadata(models_dir().join("obs_tcmonodepth_tcsmallnet_192x320.onnx"))
        .expect("tcm")
        .len();
    let mp = fs::metadata(models_dir().join("obs_mediapipe.onnx"))
        .expect("mp")
        .len();
    // Room for tcmonodepth and mediapipe together, or either with llie, but not all three.
    let budget = RESIDENT_SIZE_FACTOR * (tcm + mp);
    assert!(budget < RESIDENT_SIZE_FACTOR * (tcm + mp + llie));
    let store = ModelStore::new(config(vec![models_dir()], budget)).expect("store");
    let tcm_in = || Tensor::new("input", &[1, 3, 192, 320], vec![128.0; 3 * 192 * 320]);
    let mp_in = || Tensor::new("input_1:0", &[1, 144, 256, 3], vec![0.5; 144 * 256 * 3]);
    store.run(LLIE, vec![llie_input(0.2)], &[]).expect("llie");
    store.run("tcmonodepth", vec![tcm_in()], &[]).expect("tcm");
    assert_eq!(
        store.resident(),
        vec!["tcmonodepth".to_string(), LLIE.to_string()]
    );
    store.run(LLIE, vec![llie_input(0.2)], &[]).expect("llie");
    assert_eq!(
        store.resident(),
        vec![LLIE.to_string(), "tcmonodepth".to_string()]
    );
    // mediapipe pushes out the least recently used (tcmonodepth), keeping llie.
    store.run("mediapipe-meet", vec![mp_in()], &[]).expect("mp");
    assert_eq!(
        store.resident(),
        vec!["mediapipe-meet".to_string(), LLIE.to_string()]
    );
    assert!(store.resident_bytes() <= budget);
}

#[test]
fn concurrent_runs_of_two_models_from_several_threads() {
    let store = Arc::new(store());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for _ in 0..2 {
                    if i % 2 == 0 {
                        let out = store.run(LLIE, vec![llie_input(0.2)], &[]).expect("llie");
                        assert_eq!(&out[0].shape[..], &[1, 3, 180, 324]);
                    } else {
                        let mp =
                            Tensor::new("input_1:0", &[1, 144, 256, 3], vec![0.5; 144 * 256 * 3]);
                        let out = store.run("mediapipe-meet", vec![mp], &[]).expect("mp");
                        assert_eq!(&out[0].shape[..], &[1, 144, 256, 2]);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let mut resident = store.resident();
    resident.sort();
    assert_eq!(
        resident,
        vec![LLIE.to_string(), "mediapipe-meet".to_string()]
    );
}

#[test]
fn info_gives_the_declared_signature() {
    let store = store();
    let info = store.info("uretinex").expect("info");
    assert_eq!(info.id.as_str(), "uretinex");
    let names: Vec<&str> = info.inputs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["input", "exposure_ratio_3to5"]);
    assert_eq!(&info.inputs[1].shape[..], &[1]);
    assert_eq!(&info.outputs[0].shape[..], &[1, 3, 180, 320]);
    let info = store.info("realesr-general-x4v3").expect("info");
    assert_eq!(&info.inputs[0].shape[..], &[1, 3, -1, -1]);
    // info does not load the model.
    assert!(store.resident().is_empty());
}

#[test]
fn runtime_is_found_in_the_dev_checkout() {
    let path = find_onnxruntime(None).expect("find libonnxruntime");
    assert!(path.is_file());
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("libonnxruntime"), "{name}");
    // A directory works in place of the file; a wrong explicit path is an error naming it.
    let dir = path.parent().expect("dir");
    assert_eq!(find_onnxruntime(Some(dir)).expect("dir"), path);
    let err = find_onnxruntime(Some(Path::new("/nonexistent/libonnxruntime.so"))).expect_err("bad");
    assert!(
        err.to_string().contains("/nonexistent/libonnxruntime.so"),
        "{err}"
    );
    assert_eq!(err.kind(), easel_sdk::ErrorKind::Environment);
}
