//! Diagnostics through the C API: the registry of requests in flight
//! (`wsgirt_requests_visit`) and stack dumps (`wsgirt_runtime_dump_stacks`):
//! the executing line, the full thread id, and 1,000 dumps without leaking
//! a reference or memory.

mod common;
use common::*;
use std::ffi::c_void;
use std::time::{Duration, Instant};
use wsgirt::capi::diagnostics::*;

/// The requests in flight, as (group, thread id, age µs, request id).
fn in_flight() -> Vec<(String, u64, u64, String)> {
    unsafe extern "C" fn visit(userdata: *mut c_void, info: *const wsgirt_request_info) -> bool {
        // SAFETY: userdata is the Vec below; info is live during the call.
        unsafe {
            let out = &mut *userdata.cast::<Vec<(String, u64, u64, String)>>();
            let info = &*info;
            let text = |s: &wsgirt::capi::request::wsgirt_str| {
                String::from_utf8_lossy(std::slice::from_raw_parts(s.ptr.cast(), s.len))
                    .into_owned()
            };
            out.push((
                text(&info.group),
                info.thread_id,
                info.age_us,
                text(&info.request_id),
            ));
        }
        true
    }
    let mut out: Vec<(String, u64, u64, String)> = Vec::new();
    let mut count = 0usize;
    // SAFETY: a live runtime, a callback matching the contract and its userdata.
    let status = unsafe {
        wsgirt_requests_visit(
            runtime().0,
            Some(visit),
            (&mut out as *mut Vec<_>).cast(),
            &mut count,
        )
    };
    assert_eq!(status, WSGIRT_STATUS_OK);
    assert_eq!(count, out.len());
    out
}

#[test]
fn requests_in_flight_are_visible_without_the_gil() {
    runtime();
    let worker = std::thread::spawn(|| {
        exec_in(
            "registry",
            "import time, threading\nG['ident'] = threading.get_ident()\ntime.sleep(0.6)\nresult = G['ident']",
        )
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        if let Some(entry) = in_flight().into_iter().find(|r| r.0 == "registry") {
            break entry;
        }
        assert!(Instant::now() < deadline, "request never registered");
        std::thread::sleep(Duration::from_millis(10));
    };
    let ident: u64 = worker.join().unwrap().parse().unwrap();
    assert_eq!(found.1, ident, "thread id is threading.get_ident()");
    assert!(!found.3.is_empty());
    assert!(
        in_flight().iter().all(|r| r.0 != "registry"),
        "gone when done"
    );
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn stack_dumps_show_the_current_line_and_leak_nothing() {
    runtime();
    // A Python thread in a sub-interpreter, looping in a known function.
    let started = exec_in(
        "dumps",
        concat!(
            "import threading, time\n",
            "G['stop'] = False\n",
            "def spin():\n",
            "    G['ident'] = threading.get_ident()\n",
            "    while not G['stop']:\n",
            "        time.sleep(0.001)  # the executing line\n",
            "t = threading.Thread(target=spin)\n",
            "t.start()\n",
            "while 'ident' not in G: time.sleep(0.001)\n",
            "G['thread'] = t\n",
            "result = G['ident']",
        ),
    );
    let ident: u64 = started.parse().unwrap();
    let probe = concat!(
        "import gc, sys\n",
        "frame = sys._current_frames()[G['ident']]\n",
        "result = '%d %d' % (sys.getrefcount(frame), len(gc.get_objects()))",
    );
    let measure = || -> (i64, i64) {
        let text = exec_in("dumps", probe);
        let mut parts = text.split(' ').map(|v| v.parse::<i64>().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    };

    let dump = || {
        // SAFETY: a live runtime; called without the GIL.
        let status = unsafe { wsgirt_runtime_dump_stacks(runtime().0) };
        assert_eq!(status, WSGIRT_STATUS_OK)
    };
    dump();
    let line = log_lines_with(&format!("Thread {ident} executing file"));
    assert!(!line.is_empty(), "no stack line for thread {ident}");
    assert!(
        line[0]
            .text
            .ends_with("executing file \"<string>\", line 6, in spin"),
        "the executing line (6: time.sleep), not the def line: {}",
        line[0].text
    );

    for _ in 0..20 {
        dump();
    }
    let (refs_before, objects_before) = measure();
    let rss_before = vm_rss_kib();
    for _ in 0..1000 {
        dump();
    }
    let (refs_after, objects_after) = measure();
    let rss_after = vm_rss_kib();
    exec_in("dumps", "G['stop'] = True\nG['thread'].join()\nresult = 1");
    assert_eq!(refs_after, refs_before, "a frame reference leaked per dump");
    assert!(
        (objects_after - objects_before).abs() < 200,
        "gc objects grew from {objects_before} to {objects_after}"
    );
    assert!(
        rss_after < rss_before + 4 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB over 1,000 dumps"
    );
}

/// The event calling convention, for the cases the e2e tests do not reach:
/// a bound method as subscriber (vectorcall's scratch slot), more than four
/// subscribers (the round is copied into a list), a dict returned by one
/// subscriber merged into what every later one sees (mod_wsgi's
/// `PyDict_Update`, new keys included), and a subscriber added during a
/// round only called from the next event on.
#[test]
fn every_subscriber_sees_the_event_with_earlier_merges() {
    let dir = temp_dir("event-subscribers");
    let script = write_script(
        &dir,
        "events.wsgi",
        r#"
import mod_wsgi

SEEN = []

class Recorder:
    def __init__(self, tag):
        self.tag = tag
    def __call__(self, name, **event):
        SEEN.append((self.tag, name, "extra" in event, event.get("extra")))
    def method(self, name, **event):
        SEEN.append((self.tag + ".method", name, "extra" in event, event.get("extra")))

def merger(name, **event):
    SEEN.append(("merger", name, "extra" in event, event.get("extra")))
    if name == "request_started":
        inner = event["application_object"]
        def wrapped(environ, start_response):
            return [b"wrapped:"] + list(inner(environ, start_response))
        return {"extra": 42, "application_object": wrapped}

def late(name, **event):
    SEEN.append(("late", name, "extra" in event, event.get("extra")))

def adder(name, **event):
    SEEN.append(("adder", name, "extra" in event, event.get("extra")))
    if name == "request_started" and late not in mod_wsgi.event_callbacks:
        mod_wsgi.subscribe_events(late)

mod_wsgi.subscribe_events(Recorder("first"))
mod_wsgi.subscribe_events(merger)
mod_wsgi.subscribe_events(Recorder("second").method)
mod_wsgi.subscribe_events(adder)
mod_wsgi.subscribe_events(Recorder("third"))

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    seen = list(SEEN)
    del SEEN[:]
    return ["".join("%s %s %s %s\n" % entry for entry in seen).encode()]
"#,
    );
    let req = Req::new(&script).group("event-subscribers");
    let response = get(&req);
    let body = response.text();
    let text = body
        .strip_prefix("wrapped:")
        .expect("the merged application ran");
    let seen = parse_seen(text);
    let started: Vec<_> = seen.iter().filter(|e| e.1 == "request_started").collect();
    let expected = [
        ("first", false),
        ("merger", false),
        ("second.method", true),
        ("adder", true),
        ("third", true),
    ];
    assert_eq!(started.len(), expected.len(), "{seen:?}");
    for (entry, (tag, merged)) in started.iter().zip(expected) {
        assert_eq!(entry.0, tag, "{seen:?}");
        assert_eq!(entry.2, merged, "{seen:?}");
        assert_eq!(entry.3, merged.then_some(42), "{seen:?}");
    }
    // response_started (published while the app ran) already reaches the
    // subscriber added during request_started, without the merged key:
    // each event starts from its own fields.
    let response_started: Vec<_> = seen
        .iter()
        .filter(|e| e.1 == "response_started")
        .map(|e| (e.0.as_str(), e.2))
        .collect();
    assert_eq!(
        response_started,
        [
            ("first", false),
            ("merger", false),
            ("second.method", false),
            ("adder", false),
            ("third", false),
            ("late", false)
        ]
    );
}

/// `tag name has_extra extra` lines as written by the script above.
fn parse_seen(text: &str) -> Vec<(String, String, bool, Option<i64>)> {
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 4, "{line:?}");
            (
                f[0].to_owned(),
                f[1].to_owned(),
                f[2] == "True",
                f[3].parse().ok(),
            )
        })
        .collect()
}
