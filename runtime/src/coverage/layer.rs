use std::collections::HashSet;
use std::sync::Arc;

use tower_layer::Layer;

use super::service::Coverage;
use crate::policy::ServicePolicy;

/// Layer that refuses calls to methods without a policy; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct CoverageLayer {
    pub(super) covered: Arc<Covered>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Covered {
    paths: HashSet<&'static str>,
    unchecked_services: Vec<String>,
}

impl Covered {
    pub(super) fn allows(&self, path: &str) -> bool {
        self.paths.contains(path)
            || self.unchecked_services.iter().any(|service| {
                path.strip_prefix('/')
                    .and_then(|rest| rest.strip_prefix(service.as_str()))
                    .is_some_and(|rest| rest.starts_with('/'))
            })
    }
}

impl CoverageLayer {
    /// Serves the RPCs of `services` and refuses every other path.
    pub fn new<'a>(services: impl IntoIterator<Item = &'a ServicePolicy>) -> Self {
        let paths = services
            .into_iter()
            .flat_map(|service| service.methods.iter().map(|method| method.path))
            .collect();
        Self {
            covered: Arc::new(Covered {
                paths,
                unchecked_services: Vec::new(),
            }),
        }
    }

    /// Also lets through every method of the service `name` (fully qualified, e.g.
    /// `grpc.reflection.v1.ServerReflection`) **without any authorization**. For services that
    /// have no proto options of their own; prefer declaring them `public` in a proto.
    pub fn allow_unchecked_service(mut self, name: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.covered)
            .unchecked_services
            .push(name.into());
        self
    }
}

impl<S> Layer<S> for CoverageLayer {
    type Service = Coverage<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Coverage::new(inner, Arc::clone(&self.covered))
    }
}
