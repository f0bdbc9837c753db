//! `HEAD` on every `GET` route (RFC 9110 §9.3.2): routed as the `GET` it stands for. The server
//! leaves the body out of the answer by itself (it knows the request was a `HEAD`), and keeps
//! the headers, `Content-Length` included.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

pub async fn as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}
