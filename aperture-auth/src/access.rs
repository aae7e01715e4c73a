//! What an identity may do: the union of the grants whose `src` matches (SPEC.md §6).

use std::collections::BTreeMap;

use aperture_config::{Capability, Grant, GrantSrc, HeaderLine, ModelGlob, Role, SendHook};

use crate::Identity;

/// The effective capabilities of one identity.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The highest role granted (`admin` beats `user`).
    pub role: Option<Role>,
    /// Model globs over `provider/model`.
    pub models: Vec<ModelGlob>,
    /// May read `/metrics`.
    pub read_metrics: bool,
    /// Headers from capability objects: floating ones (no globs) apply to every request, the
    /// others when the routed `provider/model` matches one of the object's globs.
    pub add_headers: Vec<(Vec<ModelGlob>, HeaderLine)>,
    /// Quota references (`daily:<user>`) from capability objects, scoped like `add_headers`:
    /// floating objects' apply to every request, the others when the routed model matches.
    pub quotas: Vec<(Vec<ModelGlob>, String)>,
    /// Hooks from capability objects' `send_hooks`, scoped like `add_headers`.
    pub hooks: Vec<(Vec<ModelGlob>, SendHook)>,
    /// Custom capabilities of the matching grants (`example.com/cap/policy`), merged per key
    /// into arrays: what hooks receive as `metadata.grants`.
    pub custom: BTreeMap<String, Vec<serde_json::Value>>,
    /// Indexed headers this caller may filter the logs by (`filterable_headers`; `*` = all).
    /// Admins may filter by every indexed header whatever this holds.
    pub filterable_headers: Vec<String>,
}

impl Access {
    /// Evaluates `grants` for `identity`. Deny by default; no deny rules.
    ///
    /// ```
    /// use aperture_auth::{Access, Identity};
    /// let config = aperture_config::load_str(aperture_config::STARTER_CONFIG, Default::default())
    ///     .config.unwrap();
    /// let access = Access::for_identity(&config.grants, &Identity::loopback());
    /// assert_eq!(access.role, Some(aperture_config::Role::Admin));
    /// assert!(access.model_granted("anthropic", "claude-sonnet-4-6"));
    /// ```
    pub fn for_identity(grants: &[Grant], identity: &Identity) -> Self {
        let mut access = Access::default();
        let matching = || {
            grants
                .iter()
                .filter(|g| g.src.iter().any(|s| matches(s, identity)))
        };
        for grant in matching() {
            for (key, value) in &grant.custom {
                let merged = access.custom.entry(key.clone()).or_default();
                match value {
                    serde_json::Value::Array(items) => merged.extend(items.iter().cloned()),
                    other => merged.push(other.clone()),
                }
            }
        }
        let from_config = matching().flat_map(|g| g.capabilities.iter());
        // The network's grants (WhoIs CapMap) add to the config's.
        for cap in from_config.chain(identity.capabilities.iter()) {
            access.add(cap);
        }
        access
    }

    fn add(&mut self, cap: &Capability) {
        self.role = self.role.max(cap.role);
        self.read_metrics |= cap.read_metrics;
        self.models.extend(cap.models.iter().cloned());
        for h in &cap.add_headers {
            self.add_headers.push((cap.models.clone(), h.clone()));
        }
        for q in &cap.quotas {
            self.quotas.push((cap.models.clone(), q.clone()));
        }
        for h in &cap.send_hooks {
            self.hooks.push((cap.models.clone(), h.clone()));
        }
        self.filterable_headers
            .extend(cap.filterable_headers.iter().cloned());
    }

    /// Whether the caller may filter the logs by the indexed header `name`.
    pub fn may_filter_header(&self, name: &str) -> bool {
        self.is_admin()
            || self
                .filterable_headers
                .iter()
                .any(|h| h == "*" || h.eq_ignore_ascii_case(name))
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Some(Role::Admin)
    }

    /// Whether `provider/model` is granted.
    pub fn model_granted(&self, provider: &str, model: &str) -> bool {
        if self.models.is_empty() {
            return false;
        }
        self.models.iter().any(|g| g.matches_model(provider, model))
    }

    /// The grant headers that apply to a request routed to `provider/model`, in order.
    pub fn headers_for<'a>(
        &'a self,
        provider: &str,
        model: &str,
    ) -> impl Iterator<Item = &'a HeaderLine> + 'a {
        let name = format!("{provider}/{model}");
        self.add_headers
            .iter()
            .filter(move |(globs, _)| globs.is_empty() || globs.iter().any(|g| g.matches(&name)))
            .map(|(_, h)| h)
    }
}

impl Access {
    /// The quota references that apply to a request routed to `provider/model`, each once, in
    /// grant order.
    pub fn quotas_for(&self, provider: &str, model: &str) -> Vec<&str> {
        let name = format!("{provider}/{model}");
        let mut out: Vec<&str> = Vec::new();
        for (globs, q) in &self.quotas {
            let applies = globs.is_empty() || globs.iter().any(|g| g.matches(&name));
            if applies && !out.contains(&q.as_str()) {
                out.push(q);
            }
        }
        out
    }
}

impl Access {
    /// The hooks that apply to a request routed to `provider/model`: one per hook name, its
    /// `events` and `send` unioned over every object that names it (SPEC.md §10.2), in the
    /// order first named.
    pub fn hooks_for(&self, provider: &str, model: &str) -> Vec<SendHook> {
        let mut out: Vec<SendHook> = Vec::new();
        if self.hooks.is_empty() {
            return out;
        }
        let name = format!("{provider}/{model}");
        for (globs, h) in &self.hooks {
            if !(globs.is_empty() || globs.iter().any(|g| g.matches(&name))) {
                continue;
            }
            let merged = match out.iter_mut().position(|m| m.name == h.name) {
                Some(i) => &mut out[i],
                None => {
                    out.push(SendHook {
                        name: h.name.clone(),
                        events: Vec::new(),
                        send: Vec::new(),
                    });
                    let last = out.len() - 1;
                    &mut out[last]
                }
            };
            for e in &h.events {
                if !merged.events.contains(e) {
                    merged.events.push(*e);
                }
            }
            for s in &h.send {
                if !merged.send.contains(s) {
                    merged.send.push(s.clone());
                }
            }
        }
        out
    }
}

fn matches(src: &GrantSrc, identity: &Identity) -> bool {
    match src {
        GrantSrc::Everyone => true,
        GrantSrc::Principal(p) => *p == identity.login || identity.groups.iter().any(|g| g == p),
        GrantSrc::Nothing => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aperture_config::{HookEvent, Mode, load_str};

    fn grants(text: &str) -> Vec<Grant> {
        load_str(text, Mode::Load).config.unwrap().grants
    }

    const CONFIG: &str = r#"{
      "providers": {
        "anthropic": {"baseurl": "https://a", "models": ["claude-x"]},
        "openrouter": {"baseurl": "https://o", "models": ["anthropic/claude-x"]}
      },
      "grants": [
        {"src": ["alice@example.com"], "app": {"tailscale.com/cap/aperture": [
          {"role": "user"}, {"models": "anthropic/**", "add_headers": ["X-Team: a"]},
          {"add_headers": ["X-All: 1"]}]}},
        {"src": ["group:admins"], "app": {"tailscale.com/cap/aperture": [{"role": "admin"}]}},
        {"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"read_metrics": true}]}}
      ]
    }"#;

    fn who(login: &str, groups: &[&str]) -> Identity {
        Identity {
            login: login.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Identity::loopback()
        }
    }

    #[test]
    fn union_of_matching_grants() {
        let g = grants(CONFIG);
        let alice = Access::for_identity(&g, &who("alice@example.com", &[]));
        assert_eq!(alice.role, Some(Role::User));
        assert!(alice.read_metrics, "from the * grant");
        assert!(alice.model_granted("anthropic", "claude-x"));
        assert!(!alice.model_granted("openrouter", "anthropic/claude-x"));

        let admin = Access::for_identity(&g, &who("bob@example.com", &["group:admins"]));
        assert_eq!(admin.role, Some(Role::Admin));
        assert!(
            !admin.model_granted("anthropic", "claude-x"),
            "a role alone grants no model"
        );

        let nobody = Access::for_identity(&g, &who("eve@example.com", &[]));
        assert_eq!(nobody.role, None);
        // Exact, case-sensitive.
        assert_eq!(
            Access::for_identity(&g, &who("Alice@example.com", &[])).role,
            None
        );
    }

    #[test]
    fn every_src_form() {
        let g = grants(
            r#"{"providers": {"p": {"baseurl": "https://p", "models": ["m"]}},
              "grants": [
                {"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"read_metrics": true}]}},
                {"src": ["alice@example.com"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}]}},
                {"src": ["tag:api,tag:prod"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}, {"models": "p/**"}]}},
                {"src": ["(loopback)"], "app": {"tailscale.com/cap/aperture": [{"role": "admin"}]}},
                {"src": ["group:eng"], "app": {"tailscale.com/cap/aperture": [{"models": "p/m"}]}},
                {"src": ["ai-users@groups.example.com"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}]}}
              ],
              "temp_grants": [{"src": ["tagged-devices"], "grants": [{"role": "admin"}]}]}"#,
        );
        let cases: [(Identity, Option<Role>, bool, bool); 7] = [
            (who("eve@example.com", &[]), None, true, false),
            (who("alice@example.com", &[]), Some(Role::User), true, false),
            (who("tag:api,tag:prod", &[]), Some(Role::User), true, true),
            (who("tag:api", &[]), None, true, false),
            (Identity::loopback(), Some(Role::Admin), true, false),
            (who("bob@example.com", &["group:eng"]), None, true, true),
            (
                who("carol@example.com", &["ai-users@groups.example.com"]),
                Some(Role::User),
                true,
                false,
            ),
        ];
        for (id, role, metrics, model) in cases {
            let a = Access::for_identity(&g, &id);
            assert_eq!(a.role, role, "{}", id.login);
            assert_eq!(a.read_metrics, metrics, "{}", id.login);
            assert_eq!(a.model_granted("p", "m"), model, "{}", id.login);
        }
        // `tagged-devices` matches nothing, not even a tagged device.
        let tagged = Access::for_identity(&g, &who("tag:ci", &[]));
        assert_ne!(tagged.role, Some(Role::Admin));
    }

    #[test]
    fn network_grants_add_to_config_grants() {
        let g = grants(CONFIG);
        let mut id = who("dave@example.com", &[]);
        assert_eq!(Access::for_identity(&g, &id).role, None);
        id.capabilities = std::sync::Arc::new(aperture_config::capabilities_from_json(&[
            serde_json::json!({"role": "user"}),
            serde_json::json!({"models": "openrouter/**"}),
        ]));
        let a = Access::for_identity(&g, &id);
        assert_eq!(a.role, Some(Role::User));
        assert!(a.model_granted("openrouter", "anthropic/claude-x"));
        assert!(a.read_metrics, "plus the config's * grant");
    }

    #[test]
    fn headers_apply_by_model() {
        let g = grants(CONFIG);
        let alice = Access::for_identity(&g, &who("alice@example.com", &[]));
        let names: Vec<_> = alice
            .headers_for("anthropic", "claude-x")
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(names, ["x-team", "x-all"]);
        let names: Vec<_> = alice
            .headers_for("openrouter", "anthropic/claude-x")
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(names, ["x-all"]);
    }

    #[test]
    fn hooks_are_scoped_by_model_and_unioned_per_name() {
        let g = grants(
            r#"{
          "providers": {"anthropic": {"baseurl": "https://a", "models": ["claude-x"]},
                        "openai": {"baseurl": "https://o", "models": ["gpt-5"]}},
          "hooks": {"guard": {"url": "https://g"}, "siem": {"url": "https://s"}},
          "grants": [
            {"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": "user"},
              {"send_hooks": [{"name": "siem", "events": ["entire_request"], "send": ["request_body"]}]},
              {"models": "anthropic/**", "send_hooks": [
                {"name": "guard", "events": ["pre_request"], "send": ["user_message"]},
                {"name": "siem", "events": ["tool_call_entire_request"], "send": ["tools", "request_body"]}]}],
             "example.com/cap/policy": [{"tier": "gold"}]}},
            {"src": ["*"], "app": {"example.com/cap/policy": {"region": "eu"}}}
          ]}"#,
        );
        let a = Access::for_identity(&g, &who("alice@example.com", &[]));
        let on_claude = a.hooks_for("anthropic", "claude-x");
        assert_eq!(on_claude.len(), 2);
        assert_eq!(on_claude[0].name, "siem");
        assert_eq!(
            on_claude[0].events,
            [HookEvent::EntireRequest, HookEvent::ToolCallEntireRequest]
        );
        assert_eq!(on_claude[0].send, ["request_body", "tools"]);
        assert_eq!(on_claude[1].name, "guard");
        let on_gpt = a.hooks_for("openai", "gpt-5");
        assert_eq!(on_gpt.len(), 1, "the guard is scoped to anthropic/**");
        assert_eq!(
            a.custom["example.com/cap/policy"],
            [
                serde_json::json!({"tier": "gold"}),
                serde_json::json!({"region": "eu"})
            ]
        );
    }
}
