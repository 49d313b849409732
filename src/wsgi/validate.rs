//! Checks on what an application passes to `start_response`, with
//! mod_wsgi's error messages. Pure functions over bytes, unit tested.

/// Why a status line or header was refused; becomes a Python exception.
#[derive(Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Raised as `ValueError`.
    Value(&'static str),
}

impl Invalid {
    pub fn message(&self) -> &'static str {
        match self {
            Invalid::Value(message) => message,
        }
    }
}

/// Validates a latin-1 encoded status line such as `200 OK` and returns the
/// numeric code.
pub fn status_line(line: &[u8]) -> Result<u16, Invalid> {
    if line.len() < 3
        || !line[..3].iter().all(u8::is_ascii_digit)
        || line.get(3).is_some_and(u8::is_ascii_digit)
    {
        return Err(Invalid::Value("status code is not a 3 digit integer"));
    }
    if line.len() == 3 || line[3] != b' ' {
        return Err(Invalid::Value("no space following status code"));
    }
    // The reason phrase may be empty (RFC 9112 allows it; mod_wsgi 4.9.4
    // accepts `"200 "` too): the host then sends its own phrase.
    let reason = &line[4..];
    if reason.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(Invalid::Value("control character present in reason phrase"));
    }
    let code =
        (line[0] - b'0') as u16 * 100 + (line[1] - b'0') as u16 * 10 + (line[2] - b'0') as u16;
    Ok(code)
}

/// Validates a header name.
pub fn header_name(name: &[u8]) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err(Invalid::Value("header name is empty"));
    }
    for &b in name {
        if b < 0x20 || b == 0x7f {
            return Err(Invalid::Value("control character present in header name"));
        }
        if b == b' ' {
            return Err(Invalid::Value("space character present in header name"));
        }
    }
    Ok(())
}

/// Validates a header value: no CR or LF (they would split the response,
/// mod_wsgi's check) and no NUL. Beyond mod_wsgi: a NUL is not allowed in
/// HTTP field values, and Apache keeps headers as C strings, so under
/// mod_wsgi the value is silently cut at the NUL and the client gets a
/// different header than the application sent; here the application gets
/// the error. Apache itself answers 500 for the other control characters
/// (AH02430).
pub fn header_value(value: &[u8]) -> Result<(), Invalid> {
    if value.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(Invalid::Value(
            "carriage return/line feed character present in header value",
        ));
    }
    if value.contains(&0) {
        return Err(Invalid::Value("null character present in header value"));
    }
    Ok(())
}

/// Parses a `Content-Length` value as mod_wsgi does (C's `strtoll`):
/// leading white space and a sign are allowed, nothing may follow the
/// digits, it may not be negative, and an empty value is 0. `None` when
/// invalid. The Apache host parses the value with the same rule
/// (`apr_strtoff`), so a value accepted here is never refused there.
pub fn content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return Some(0);
    }
    let start = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .unwrap_or(value.len());
    let (negative, digits) = match &value[start..] {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let length: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    if length > i64::MAX as u64 || (negative && length != 0) {
        return None;
    }
    Some(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_status_lines() {
        assert_eq!(status_line(b"200 OK"), Ok(200));
        assert_eq!(status_line(b"404 Not Found"), Ok(404));
        assert_eq!(status_line(b"599 x"), Ok(599));
    }

    #[test]
    fn bad_status_lines() {
        assert_eq!(
            status_line(b"200"),
            Err(Invalid::Value("no space following status code"))
        );
        assert_eq!(
            status_line(b"20 OK"),
            Err(Invalid::Value("status code is not a 3 digit integer"))
        );
        assert_eq!(
            status_line(b"abc OK"),
            Err(Invalid::Value("status code is not a 3 digit integer"))
        );
        assert_eq!(
            status_line(b"200OK"),
            Err(Invalid::Value("no space following status code"))
        );
        assert_eq!(
            status_line(b"2000 OK"),
            Err(Invalid::Value("status code is not a 3 digit integer"))
        );
        assert_eq!(status_line(b"200 "), Ok(200));
        assert_eq!(
            status_line(b"200 OK\r\nX: y"),
            Err(Invalid::Value("control character present in reason phrase"))
        );
    }

    #[test]
    fn header_checks() {
        assert!(header_name(b"Content-Type").is_ok());
        assert!(header_name(b"").is_err());
        assert!(header_name(b"Bad Name").is_err());
        assert!(header_name(b"Bad\nName").is_err());
        assert!(header_value(b"text/plain; charset=latin-1 \xe9").is_ok());
        assert!(header_value(b"a\r\nSet-Cookie: x").is_err());
        assert!(header_value(b"a\nb").is_err());
        assert_eq!(
            header_value(b"a\0b"),
            Err(Invalid::Value("null character present in header value"))
        );
        assert!(header_value(b"tab\tand latin-1 \xe9").is_ok());
    }

    #[test]
    fn content_lengths() {
        assert_eq!(content_length(b"13"), Some(13));
        assert_eq!(content_length(b" 7"), Some(7));
        assert_eq!(content_length(b"+7"), Some(7));
        assert_eq!(content_length(b"-0"), Some(0));
        assert_eq!(content_length(b""), Some(0));
        assert_eq!(content_length(b"7 "), None);
        assert_eq!(content_length(b" 7 "), None);
        assert_eq!(content_length(b"   "), None);
        assert_eq!(content_length(b"+"), None);
        assert_eq!(content_length(b"-1"), None);
        assert_eq!(content_length(b"1e3"), None);
        assert_eq!(content_length(b"9223372036854775808"), None);
    }
}
