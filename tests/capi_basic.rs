//! The request path through the C API, driven from Rust.

mod common;
use common::*;

#[test]
fn hello_world() {
    let r = get(&Req::new("hello.wsgi"));
    assert_eq!(r.status, 200);
    assert_eq!(r.status_line, "200 OK");
    assert_eq!(r.body, b"Hello world!\n");
    assert!(r
        .headers
        .contains(&("Content-Type".into(), "text/plain".into())));
}

#[test]
fn missing_callable_is_not_found() {
    let req = Req::new("hello.wsgi").callable("nope");
    let mut host = Host::new(vec![]);
    let (status, result) = run(&req, &mut host);
    assert_eq!(status, WSGIRT_STATUS_CALLABLE_NOT_FOUND);
    assert!(result.is_none());
    assert!(!log_lines_with("does not contain WSGI application 'nope'").is_empty());
}
