//! Who is asking, and how far they reach: the local operator (every project),
//! an admin token (every project), or a member token (its own project only, and
//! charging only itself).

use crate::attribution::Attribution;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Recorded as the actor of the changes it makes.
    pub actor: String,
    /// Charged when a create names no consumer, or no project.
    pub default_consumer: Option<String>,
    pub default_project: Option<String>,
    /// `Some(project)`: a member, who sees that project only.
    pub member_of: Option<String>,
}

impl Caller {
    /// Someone who sees every project (the local operator, an admin token).
    pub fn admin(
        actor: String,
        default_consumer: Option<String>,
        default_project: Option<String>,
    ) -> Caller {
        Caller {
            actor,
            default_consumer,
            default_project,
            member_of: None,
        }
    }

    /// A member: `consumer` in `project`, and nothing else.
    pub fn member(consumer: String, project: String) -> Caller {
        Caller {
            actor: consumer.clone(),
            default_consumer: Some(consumer),
            default_project: Some(project.clone()),
            member_of: Some(project),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.member_of.is_none()
    }

    /// Whether this caller may see what belongs to `project`.
    pub fn sees(&self, project: &str) -> bool {
        self.member_of.as_deref().is_none_or(|own| own == project)
    }

    /// Refuses a member, naming `what` it asked for.
    pub fn require_admin(&self, what: &str) -> Result<()> {
        match &self.member_of {
            None => Ok(()),
            Some(own) => Err(Error::Forbidden(format!(
                "{what}: only an admin token may see this; {} sees project {own}",
                self.actor
            ))),
        }
    }

    /// The project a member's query is confined to (refusing another one), or
    /// the asked-for one for an admin.
    pub fn confine(&self, project: Option<String>) -> Result<Option<String>> {
        match (&self.member_of, project) {
            (None, p) => Ok(p),
            (Some(own), Some(p)) if p != *own => Err(Error::Forbidden(format!(
                "{} sees project {own} only",
                self.actor
            ))),
            (Some(own), _) => Ok(Some(own.clone())),
        }
    }

    /// Whom a new sandbox is charged to: the named consumer and project, else
    /// this caller's defaults. A member may charge only itself in its project.
    pub fn attribution(
        &self,
        consumer: Option<&str>,
        project: Option<&str>,
        fallback_project: Option<&str>,
    ) -> Result<Attribution> {
        if let Some(own) = &self.member_of {
            if project.is_some_and(|p| p != own) {
                return Err(Error::Forbidden(format!(
                    "{} may create sandboxes in project {own} only; leave project out or name {own}",
                    self.actor
                )));
            }
            if consumer.is_some_and(|c| c != self.actor) {
                return Err(Error::Forbidden(
                    "only an admin may create for another consumer; leave consumer out to create as yourself"
                        .into(),
                ));
            }
        }
        Attribution::resolve(
            consumer,
            project.or(fallback_project),
            self.default_consumer.as_deref(),
            self.default_project.as_deref(),
        )
        .map_err(Error::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_reaches_its_own_project_only() {
        let m = Caller::member("agt:bot".into(), "alpha".into());
        assert!(m.sees("alpha") && !m.sees("beta"));
        assert_eq!(m.confine(None).unwrap().as_deref(), Some("alpha"));
        assert!(matches!(
            m.confine(Some("beta".into())),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            m.attribution(None, Some("beta"), None),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            m.attribution(Some("agt:other"), None, None),
            Err(Error::Forbidden(_))
        ));
        let own = m.attribution(None, None, None).unwrap();
        assert_eq!(
            (own.consumer.to_string(), own.project),
            ("agt:bot".into(), "alpha".into())
        );
        assert!(m.require_admin("x").is_err());
        let a = Caller::admin("adm:ops".into(), Some("adm:ops".into()), None);
        assert!(a.sees("beta") && a.require_admin("x").is_ok());
        assert_eq!(a.confine(None).unwrap(), None);
        assert_eq!(
            a.attribution(Some("agt:x"), None, Some("snap-project"))
                .unwrap()
                .project,
            "snap-project"
        );
    }
}
