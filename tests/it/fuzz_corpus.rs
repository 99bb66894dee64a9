//! Every input the fuzzers kept (`fuzz/corpus/<target>/`) and every crash they found
//! (`fuzz/artifacts/<target>/`), replayed through the same front doors on stable:
//! a fixed crash stays fixed, and the coverage the fuzzers reached stays tested.

use std::path::Path;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn every_kept_input_and_crash_replays_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, target) in latchkey::fuzzing::TARGETS {
        assert!(
            root.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{name}.rs exists"
        );
        let corpus = inputs(&root.join("corpus").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} has inputs");
        for (path, data) in corpus
            .iter()
            .chain(&inputs(&root.join("artifacts").join(name)))
        {
            let replayed = std::panic::catch_unwind(|| target(data));
            assert!(
                replayed.is_ok(),
                "{path} fails; rerun it with `cargo +nightly fuzz run {name} {path}`"
            );
        }
    }
}
