//! The shipped `workloads/*.yaml` files: each one's `config` is accepted by
//! its workload and spells out exactly the defaults, so the comments there
//! document what an empty `config` means.

use faultline::workload::{bank, by_name, counter, register, set, txn, NAMES};
use serde_json::Value;

fn config_of(name: &str) -> Value {
    let path = format!("{}/workloads/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(doc["name"], name, "{path}");
    doc["config"].clone()
}

/// Parse `name.yaml`'s config as `T` and compare it with `T::default()`.
fn same_as_default<T>(name: &str)
where
    T: serde::de::DeserializeOwned + Default + PartialEq + std::fmt::Debug,
{
    let cfg = config_of(name);
    let w = by_name(name, &cfg).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(w.name(), name);
    let parsed: T = serde_json::from_value(cfg).unwrap();
    assert_eq!(
        parsed,
        T::default(),
        "{name}.yaml must spell out the defaults"
    );
}

#[test]
fn shipped_configs_are_accepted_and_equal_the_defaults() {
    same_as_default::<register::Config>("register");
    same_as_default::<set::Config>("set");
    same_as_default::<bank::Config>("bank");
    same_as_default::<counter::Config>("counter");
    same_as_default::<txn::Config>("list-append");
    same_as_default::<txn::Config>("rw-register");
    assert_eq!(NAMES.len(), 6);
}

#[test]
fn a_misspelled_field_is_rejected_naming_it() {
    let mut cfg = config_of("bank");
    cfg["max-transfers"] = Value::from(3);
    let e = by_name("bank", &cfg).err().unwrap();
    assert!(
        e.contains("max-transfers") && e.contains("max-transfer"),
        "{e}"
    );
}
