//! Declaring routes: each resource answers the methods it was given, and any
//! other method with 405 and an `Allow` header naming them (RFC 9110
//! §15.5.6), as problem+json like every other error. A handler that panics
//! answers 500 (see [`catch_panics`]).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{AppService, HttpServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, FromRequest, Handler, Responder, ResponseError};

use crate::error::ApiError;

/// A resource under construction: `resource("/centers").get(list).post(create)`.
pub struct Resource {
    inner: actix_web::Resource,
    allowed: Vec<Method>,
}

/// Starts a resource at `path` (relative to the enclosing scope).
pub fn resource(path: &str) -> Resource {
    Resource {
        inner: web::resource(path),
        allowed: Vec::new(),
    }
}

impl Resource {
    /// Answers GET with `handler`.
    pub fn get<F, Args>(self, handler: F) -> Resource
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method(Method::GET, handler)
    }

    /// Answers POST with `handler`.
    pub fn post<F, Args>(self, handler: F) -> Resource
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method(Method::POST, handler)
    }

    /// Answers PATCH with `handler`.
    pub fn patch<F, Args>(self, handler: F) -> Resource
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method(Method::PATCH, handler)
    }

    fn method<F, Args>(mut self, method: Method, handler: F) -> Resource
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.inner = self.inner.route(
            web::route()
                .method(method.clone())
                .to(handler)
                .wrap(from_fn(catch_panics)),
        );
        self.allowed.push(method);
        self
    }
}

impl HttpServiceFactory for Resource {
    fn register(self, config: &mut AppService) {
        let allow = self
            .allowed
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        self.inner
            .default_service(web::to(move || {
                let allow = allow.clone();
                async move { Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed { allow }) }
            }))
            .register(config)
    }
}

/// Answers a request whose handler panicked with a 500 problem instead of
/// dropping the connection, and keeps the worker serving. A panic is a bug:
/// the panic hook that [`crate::init_logging`] sets logs where it happened,
/// and the request log shows the 500; the client learns only that it
/// happened.
///
/// It wraps each route, not the whole app: the request it answers with must
/// be cloned before the handler runs, and actix can only route a request
/// that was not cloned.
async fn catch_panics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    use futures_util::FutureExt;
    let request = req.request().clone();
    match std::panic::AssertUnwindSafe(next.call(req))
        .catch_unwind()
        .await
    {
        Ok(result) => result.map(ServiceResponse::map_into_left_body),
        Err(_) => {
            let response = ApiError::internal("a request handler panicked").error_response();
            Ok(ServiceResponse::new(request, response).map_into_right_body())
        }
    }
}
