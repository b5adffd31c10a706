//! The request head: parsed from the bytes read so far by `httparse`, at most
//! [`MAX_HEAD_BYTES`], into the method and the path routing needs. Apart from
//! the connection handling because it is pure (bytes in, head out) and fuzzed
//! on its own.

/// Largest request head we read.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;

/// A parsed request head: what routing needs.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub path: String,
}

/// Why a head could not be parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x, or malformed: 400.
    Malformed,
    /// Over [`MAX_HEAD_BYTES`] or too many headers: 431.
    TooLarge,
}

/// Parses a request head from the bytes read so far; `Ok(None)` means "need more".
pub fn parse_head(buf: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Err(HeadError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(HeadError::Malformed);
    };
    Ok(Some(RequestHead {
        method: method.to_string(),
        path: route_path(target).ok_or(HeadError::Malformed)?,
    }))
}

/// The path of an origin-form (`/x?q`) or absolute-form (`http://h/x`) target.
fn route_path(target: &str) -> Option<String> {
    let path = if target.starts_with('/') {
        target
    } else if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else {
        return None;
    };
    let end = path.find(['?', '#']).unwrap_or(path.len());
    Some(path[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, path: &str) -> Result<Option<RequestHead>, HeadError> {
        Ok(Some(RequestHead {
            method: method.into(),
            path: path.into(),
        }))
    }

    #[test]
    fn parses_heads() {
        assert_eq!(
            parse_head(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
            head("GET", "/healthz")
        );
        assert_eq!(
            parse_head(b"HEAD /readyz?x=1 HTTP/1.0\r\n\r\n"),
            head("HEAD", "/readyz")
        );
        assert_eq!(
            parse_head(b"GET http://h:8080/livez HTTP/1.1\r\n\r\n"),
            head("GET", "/livez")
        );
        assert_eq!(
            parse_head(b"GET http://h HTTP/1.1\r\n\r\n"),
            head("GET", "/")
        );
        assert_eq!(
            parse_head(b"get /healthz HTTP/1.1\r\n\r\n"),
            head("get", "/healthz")
        );
        // A body or a second (pipelined) request after the head is ignored.
        assert_eq!(
            parse_head(b"GET /livez HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n"),
            head("GET", "/livez")
        );
    }

    #[test]
    fn partial_and_bad_heads() {
        assert_eq!(parse_head(b""), Ok(None));
        assert_eq!(parse_head(b"GET /healthz HTTP/1.1\r\nHost:"), Ok(None));
        assert_eq!(
            parse_head(b"\x16\x03\x01\x02\x00"),
            Err(HeadError::Malformed)
        );
        assert_eq!(
            parse_head(b"GET /x HTTP/2.0\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        assert_eq!(
            parse_head(b"GET * HTTP/1.1\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        assert_eq!(
            parse_head(b"GET /a b HTTP/1.1\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_HEAD_BYTES, b'a');
        assert_eq!(parse_head(&huge), Err(HeadError::TooLarge));
        let many: String = (0..100).map(|i| format!("X{i}: y\r\n")).collect();
        assert_eq!(
            parse_head(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            Err(HeadError::TooLarge)
        );
    }
}
