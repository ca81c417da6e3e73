//! `entries-read` and `lag` by Redis 8.0's rules (#13338, #13473), which Sluice follows when it
//! reports 8.0 or later (its default, 8.10.0): Redis's own test cases for those changes
//! ("Consumer Group Lag with XDELs and tombstone after the last_id of consume group",
//! "Consumer group lag with XTRIM"), with their expected values. The 7.0.15 rules are checked
//! by the differential suite, which runs Sluice with `--redis-version 7.0.15`.

mod common;

use common::{Conn, Server};

/// `(entries-read, lag)` of the stream's first group; `None` for a null lag.
fn read_and_lag(c: &mut Conn, key: &str) -> (i64, Option<i64>) {
    let info = common::parse_resp(&c.cmd(&format!("XINFO GROUPS {key}"))).0;
    let g = &info.array()[0];
    let lag = g.field("lag");
    let lag = match lag {
        common::Resp::Nil => None,
        other => Some(other.int()),
    };
    (g.field("entries-read").int(), lag)
}

#[test]
fn a_tombstone_past_the_group_makes_its_counter_an_estimate() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    for l in [
        "XGROUP CREATE x g1 $ MKSTREAM",
        "XADD x 1-0 data a",
        "XREADGROUP GROUP g1 alice STREAMS x >",
        "XADD x 2-0 data c",
        "XADD x 3-0 data d",
        "XDEL x 2-0",
    ] {
        assert!(!c.cmd(l).starts_with(b"-"), "{l}");
    }
    // The greatest tombstone (2-0) is behind the first entry (1-0 is still there), yet ahead
    // of the group's last ID (1-0): the lag is unknown.
    assert_eq!(read_and_lag(&mut c, "x"), (1, None));
    c.cmd("XDEL x 1-0");
    // Both the group's last ID and every tombstone are behind the first entry (3-0).
    assert_eq!(read_and_lag(&mut c, "x"), (1, Some(1)));
    // Consuming 3-0 past the tombstone: the counter is estimated, and exact again.
    c.cmd("XREADGROUP GROUP g1 alice STREAMS x >");
    assert_eq!(read_and_lag(&mut c, "x"), (3, Some(0)));
}

#[test]
fn a_trim_past_the_group_leaves_the_length_as_its_lag() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    c.cmd("XGROUP CREATE x mygroup $ MKSTREAM");
    for i in 1..=5 {
        c.cmd(&format!("XADD x {i}-0 data v"));
    }
    c.cmd("XREADGROUP GROUP mygroup alice COUNT 1 STREAMS x >");
    assert_eq!(read_and_lag(&mut c, "x"), (1, Some(4)));
    c.cmd("XTRIM x MAXLEN 1");
    let info = common::parse_resp(&c.cmd("XINFO STREAM x")).0;
    assert_eq!(info.field("max-deleted-entry-id").bulk(), b"0-0");
    assert_eq!(read_and_lag(&mut c, "x"), (1, Some(1)));
    c.cmd("XTRIM x MAXLEN 0");
    assert_eq!(read_and_lag(&mut c, "x").1, Some(0));
}
