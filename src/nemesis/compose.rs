//! Several nemeses as one: each op goes to the member that handles its `f`.

use super::{Nemesis, NemesisError};
use crate::db::Cluster;
use crate::history::Op;
use serde_json::Value;

/// Routes ops to members by `f`; setup and teardown reach every member.
#[derive(Default)]
pub struct Compose {
    members: Vec<Box<dyn Nemesis>>,
    name: String,
}

impl Compose {
    /// Combine `members`; an empty list is the no-op nemesis `none`.
    pub fn new(members: Vec<Box<dyn Nemesis>>) -> Self {
        let name = if members.is_empty() {
            "none".to_string()
        } else {
            members
                .iter()
                .map(|m| m.name().to_string())
                .collect::<Vec<_>>()
                .join("+")
        };
        Compose { members, name }
    }
}

impl Nemesis for Compose {
    fn name(&self) -> &str {
        &self.name
    }

    fn fs(&self) -> Vec<String> {
        self.members.iter().flat_map(|m| m.fs()).collect()
    }

    fn setup(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        for m in &mut self.members {
            m.setup(cluster)?;
        }
        Ok(())
    }

    fn invoke(&mut self, cluster: &Cluster, op: &Op) -> Result<Value, NemesisError> {
        match self.members.iter_mut().find(|m| m.fs().contains(&op.f)) {
            Some(m) => m.invoke(cluster, op),
            None => Err(NemesisError::BadOp {
                nemesis: self.name.clone(),
                reason: format!("no nemesis handles f {:?}", op.f),
            }),
        }
    }

    fn set_interrupt(&mut self, flag: super::Interrupt) {
        for m in &mut self.members {
            m.set_interrupt(flag.clone());
        }
    }

    /// Tears every member down even when one fails; returns the first error.
    fn teardown(&mut self, cluster: &Cluster) -> Result<(), NemesisError> {
        let mut first = None;
        for m in &mut self.members {
            if let Err(e) = m.teardown(cluster) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
