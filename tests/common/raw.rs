//! HTTP/1.1 by hand, for what a client library would hide: the status line as sent, every
//! header (cookies included), and the console's login form (its cookie and CSRF token).

use std::io::{Read, Write};
use std::net::TcpStream;

/// One raw HTTP/1.1 exchange on a fresh connection: `head` (request line and headers, without
/// the blank line) and `body` sent; the status line, the headers (names lower-cased) and the
/// body read back.
pub fn raw(addr: &str, head: &str, body: &[u8]) -> (String, Vec<(String, String)>, String) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(super::live::TIMEOUT)).unwrap();
    write!(tcp, "{head}\r\nconnection: close\r\n").unwrap();
    if !body.is_empty() {
        write!(tcp, "content-length: {}\r\n", body.len()).unwrap();
    }
    tcp.write_all(b"\r\n").unwrap();
    tcp.write_all(body).unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The first header `name` (lower-case) of a response.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The `name=value` of the cookie `name` a response sets.
pub fn cookie(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with(&format!("{name}=")))
        .map(|(_, v)| v.split(';').next().unwrap().to_string())
        .unwrap_or_else(|| panic!("no cookie {name} in {headers:?}"))
}

/// The CSRF token of a console page's forms.
pub fn csrf(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no csrf field in {page}"))
        .to_string()
}

/// Signs in through the login form of the server at `addr` (a 303): the session cookie and
/// where the login sent the browser.
pub fn sign_in(addr: &str, token: &str) -> (String, String) {
    let (_, headers, page) = raw(addr, "GET /login HTTP/1.1\r\nhost: 127.0.0.1", b"");
    let login = cookie(&headers, "sampleflow_login");
    let (status, headers, body) = raw(
        addr,
        &format!(
            "POST /login HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: {login}\r\ncontent-type: application/x-www-form-urlencoded"
        ),
        format!("token={token}&csrf={}", csrf(&page)).as_bytes(),
    );
    assert!(status.contains(" 303 "), "{addr}: {status}\n{body}");
    let location = header(&headers, "location").unwrap_or("").to_string();
    (cookie(&headers, "sampleflow_session"), location)
}
