//! A pipeline longer than the parsed-commands limit (1,024) that arrives in one read is
//! answered in full: the commands left in the read buffer after the first 1,024 run without
//! waiting for more input (they once waited for the client's next write, forever if it had
//! none).

mod common;

use common::Server;

#[test]
fn a_pipeline_longer_than_the_pending_limit_is_answered_in_full() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    // Several sizes and rounds: once the read buffer has grown, one read can take a whole
    // pipeline (a stall shows as the 20 s read timeout of the test client).
    for n in [1100, 1500, 2000, 2500, 3000] {
        let pings: Vec<Vec<Vec<u8>>> = (0..n).map(|_| vec![b"PING".to_vec()]).collect();
        for round in 0..5 {
            let replies = c.pipeline(&pings);
            assert_eq!(replies.len(), n, "{n} commands, round {round}");
            assert!(replies.iter().all(|r| r.text() == "PONG"), "round {round}");
        }
    }
}
