//! What a reload must do: the old and new configs compared service by service. A service whose
//! typed spec is equal in both is left alone (same process, same PID); any difference at all,
//! including a changed default it inherits (runtime dir, `[supervisor] on_orphan`), restarts it.
//! Pure.

use super::spec::Config;

/// The services a reload adds, removes, restarts and leaves alone, each list in name order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// In the new config only: start them (if `autostart`).
    pub added: Vec<String>,
    /// In the old config only: stop them.
    pub removed: Vec<String>,
    /// In both, with different specs: restart them on the new spec.
    pub changed: Vec<String>,
    /// In both, identical: leave them running untouched.
    pub unchanged: Vec<String>,
    /// Whether `[supervisor]` changed; some of it (runtime dir, log dir) only takes effect on
    /// a restart of pidward itself, which the engine should log.
    pub supervisor_changed: bool,
}

impl ReloadPlan {
    /// Whether the reload changes nothing about any service.
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compares two configs by service name.
pub fn diff(old: &Config, new: &Config) -> ReloadPlan {
    let mut plan = ReloadPlan {
        supervisor_changed: old.supervisor != new.supervisor,
        ..ReloadPlan::default()
    };
    for (name, spec) in &new.services {
        match old.services.get(name) {
            None => plan.added.push(name.clone()),
            Some(old_spec) if old_spec == spec => plan.unchanged.push(name.clone()),
            Some(_) => plan.changed.push(name.clone()),
        }
    }
    plan.removed = old
        .services
        .keys()
        .filter(|name| !new.services.contains_key(*name))
        .cloned()
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::config;

    #[test]
    fn sorts_services_into_added_removed_changed_unchanged() {
        let old = config(
            "[services.keep]\ncommand = \"sleep 1\"\n[services.gone]\ncommand = \"x\"\n\
             [services.edit]\ncommand = \"a\"\n",
        );
        let new = config(
            "[services.edit]\ncommand = \"a\"\nstop_timeout = 3\n[services.new]\ncommand = \"y\"\n\
             [services.keep]\ncommand = \"sleep 1\"\n",
        );
        let plan = diff(&old, &new);
        assert_eq!(
            plan,
            ReloadPlan {
                added: vec!["new".into()],
                removed: vec!["gone".into()],
                changed: vec!["edit".into()],
                unchanged: vec!["keep".into()],
                supervisor_changed: false,
            }
        );
        assert!(!plan.is_noop());
    }

    #[test]
    fn same_config_is_a_noop_and_an_inherited_default_counts_as_a_change() {
        let text = "[services.a]\ncommand = [\"sleep\", \"9\"]\n";
        let plan = diff(&config(text), &config(text));
        assert!(plan.is_noop());
        assert_eq!(plan.unchanged, ["a"]);
        let moved = format!("[supervisor]\nruntime_dir = \"/srv/run\"\n{text}");
        let plan = diff(&config(text), &config(&moved));
        assert!(plan.supervisor_changed);
        assert_eq!(plan.changed, ["a"], "its PID file moved");
    }

    #[test]
    fn a_supervisor_only_change_touches_no_service() {
        let text = "[services.a]\ncommand = \"x\"\n";
        let louder = format!("[supervisor]\nlog_level = \"debug\"\n{text}");
        let plan = diff(&config(text), &config(&louder));
        assert!(plan.supervisor_changed && plan.is_noop());
    }
}
