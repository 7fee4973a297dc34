//! Consistency models, and which of them each anomaly rules out.
//!
//! After Adya (PL-1 read uncommitted proscribes G0; PL-2 read committed
//! adds G1a, G1b, G1c; PL-2.99 repeatable read adds G2-item, which on
//! single items includes G-single and G-nonadjacent; snapshot isolation
//! proscribes G-single and G-nonadjacent but allows G2-item's write skew;
//! PL-3 serializable proscribes every dependency cycle) and Elle (strict
//! serializable also proscribes the cycles that need process or real-time
//! order; every model requires a transaction to see its own writes, a list
//! to hold each append once, reads to agree on one order, and values read
//! to have been written).

use super::{AnomalyKind, CycleType, Order};
use serde::Serialize;

/// A consistency model a history can be judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Model {
    /// Serializable, and consistent with real-time order.
    StrictSerializable,
    /// Equivalent to some serial order (PL-3).
    Serializable,
    /// Reads from a snapshot; no lost updates.
    SnapshotIsolation,
    /// Item-level repeatable read (PL-2.99).
    RepeatableRead,
    /// Reads only committed, final values (PL-2).
    ReadCommitted,
    /// No dirty writes (PL-1).
    ReadUncommitted,
}

/// Every model, strongest first.
pub const ALL: &[Model] = &[
    Model::StrictSerializable,
    Model::Serializable,
    Model::SnapshotIsolation,
    Model::RepeatableRead,
    Model::ReadCommitted,
    Model::ReadUncommitted,
];

impl Model {
    /// Its name: `strict-serializable`, `snapshot-isolation`...
    pub fn name(self) -> &'static str {
        match self {
            Model::StrictSerializable => "strict-serializable",
            Model::Serializable => "serializable",
            Model::SnapshotIsolation => "snapshot-isolation",
            Model::RepeatableRead => "repeatable-read",
            Model::ReadCommitted => "read-committed",
            Model::ReadUncommitted => "read-uncommitted",
        }
    }

    /// The model called `name`; the error lists the names.
    pub fn parse(name: &str) -> Result<Model, String> {
        ALL.iter()
            .copied()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = ALL.iter().map(|m| m.name()).collect();
                format!(
                    "unknown consistency model {name:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// The models an anomaly of `kind` rules out.
pub fn excluded_by(kind: AnomalyKind) -> &'static [Model] {
    use Model::*;
    const EVERY: &[Model] = ALL;
    const RC_UP: &[Model] = &[
        StrictSerializable,
        Serializable,
        SnapshotIsolation,
        RepeatableRead,
        ReadCommitted,
    ];
    const SI_RR_UP: &[Model] = &[
        StrictSerializable,
        Serializable,
        SnapshotIsolation,
        RepeatableRead,
    ];
    const RR_UP: &[Model] = &[StrictSerializable, Serializable, RepeatableRead];
    const STRICT: &[Model] = &[StrictSerializable];
    match kind {
        AnomalyKind::Cycle(_, Order::Process | Order::Realtime) => STRICT,
        AnomalyKind::Cycle(CycleType::G0, Order::Data) => EVERY,
        AnomalyKind::Cycle(CycleType::G1c, Order::Data) | AnomalyKind::G1a | AnomalyKind::G1b => {
            RC_UP
        }
        AnomalyKind::Cycle(CycleType::GSingle | CycleType::GNonadjacent, Order::Data) => SI_RR_UP,
        AnomalyKind::Cycle(CycleType::G2Item, Order::Data) => RR_UP,
        AnomalyKind::Internal
        | AnomalyKind::DuplicateElements
        | AnomalyKind::IncompatibleOrder
        | AnomalyKind::Garbage => EVERY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known() {
        for m in ALL {
            assert_eq!(Model::parse(m.name()), Ok(*m));
        }
        let e = Model::parse("linearizable").expect_err("not a txn model");
        assert!(e.contains("strict-serializable, serializable"), "{e}");
    }

    #[test]
    fn write_skew_is_allowed_by_snapshot_isolation_only_among_the_strong() {
        let ex = excluded_by(AnomalyKind::Cycle(CycleType::G2Item, Order::Data));
        assert!(!ex.contains(&Model::SnapshotIsolation));
        assert!(ex.contains(&Model::Serializable) && ex.contains(&Model::RepeatableRead));
        let single = excluded_by(AnomalyKind::Cycle(CycleType::GSingle, Order::Data));
        assert!(single.contains(&Model::SnapshotIsolation));
        assert!(!single.contains(&Model::ReadCommitted));
    }

    #[test]
    fn realtime_cycles_rule_out_only_strict_serializability() {
        let ex = excluded_by(AnomalyKind::Cycle(CycleType::G0, Order::Realtime));
        assert_eq!(ex, &[Model::StrictSerializable]);
        assert_eq!(excluded_by(AnomalyKind::Internal).len(), ALL.len());
        assert!(!excluded_by(AnomalyKind::G1a).contains(&Model::ReadUncommitted));
    }
}
