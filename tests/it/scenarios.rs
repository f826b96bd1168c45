//! Scenario tests of SPEC §2–3, one or more per row, written as traces through one helper,
//! `check_trace`: the replayer (the real lessor and KV) must print exactly the expected replies with
//! the oracle silent, and the naive reference model must print the same.
//!
//! The few facts a trace cannot reach (Grant's ID-0 check, which the server layer hides behind
//! server-picked IDs; recovery's TTL clamp; the spreading bound over many leases) are checked on
//! the lessor directly at the end. Owns no semantics of its own.

use leasesim::bugs::Bugs;
use leasesim::lease::{LeaseError, LeaseRecord, LeaseRecords, Lessor, LessorConfig, MAX_LEASE_TTL_S};
use leasesim::oracle::reference::Reference;
use leasesim::time::{Duration, Instant};
use leasesim::trace::{Replayer, parse_trace, replay_trace};

/// Replays `text` and demands `expected`, one reply per command, with no property violated; the
/// reference model must answer the same.
#[track_caller]
fn check_trace(text: &str, expected: &[&str]) {
    let outcome = replay_trace(text, Bugs::NONE).unwrap_or_else(|e| panic!("the trace does not replay: {e}\n{text}"));
    assert_eq!(outcome.violation, None, "a property failed on the fixed path:\n{text}");
    assert_eq!(outcome.replies, expected, "the replayer's replies differ:\n{text}");
    let (config, commands) = parse_trace(text).expect("it parsed above");
    let mut reference = Reference::new(config);
    let replies: Vec<String> = commands
        .iter()
        .map(|(line, c)| reference.execute(c).unwrap_or_else(|e| panic!("reference refused line {line}: {e}")))
        .collect();
    assert_eq!(replies, expected, "the reference model's replies differ:\n{text}");
}

#[test]
fn grant_raises_short_ttls_to_the_minimum() {
    check_trace(
        "grant 1 1\ngrant 2 0\ngrant 3 -5\ngrant 4 2\ngrant 5 3",
        &["ok id=1 ttl=2", "ok id=2 ttl=2", "ok id=3 ttl=2", "ok id=4 ttl=2", "ok id=5 ttl=3"],
    );
    check_trace("config min_ttl=5\ngrant 1 3\nttl 1", &["ok id=1 ttl=5", "ok id=1 ttl=5 granted=5"]);
}

#[test]
fn grant_checks_too_large_before_duplicate() {
    check_trace(
        "grant 1 10\ngrant 1 9000000001\ngrant 1 9000000000\ngrant 2 9000000000\ngrant 1 1",
        &["ok id=1 ttl=10", "err TtlTooLarge", "err LeaseExists", "ok id=2 ttl=9000000000", "err LeaseExists"],
    );
}

#[test]
fn grant_0_gets_a_fresh_server_picked_id() {
    // The counter skips IDs clients took, moves on even when the grant fails, never reuses.
    check_trace(
        "grant 0 5\ngrant 0 5\ngrant 4 5\ngrant 0 5\ngrant 0 5\ngrant 0 9000000001\ngrant 0 5\nrevoke 1\ngrant 0 5",
        &[
            "ok id=1 ttl=5",
            "ok id=2 ttl=5",
            "ok id=4 ttl=5",
            "ok id=3 ttl=5",
            "ok id=5 ttl=5",
            "err TtlTooLarge",
            "ok id=7 ttl=5",
            "ok",
            "ok id=8 ttl=5",
        ],
    );
}

#[test]
fn renew_answers_the_granted_ttl_not_the_time_left() {
    check_trace(
        "grant 1 10\nadvance 4s\nttl 1\nrenew 1\nttl 1\ngrant 2 1\nrenew 2",
        &[
            "ok id=1 ttl=10",
            "ok revoked=",
            "ok id=1 ttl=6 granted=10",
            "ok ttl=10",
            "ok id=1 ttl=10 granted=10",
            "ok id=2 ttl=2",
            "ok ttl=2",
        ],
    );
}

#[test]
fn ttl_truncates_whole_seconds() {
    check_trace(
        "grant 1 10\nadvance 2500ms\nttl 1\nadvance 499ms\nttl 1\nadvance 1ms\nttl 1",
        &[
            "ok id=1 ttl=10",
            "ok revoked=",
            "ok id=1 ttl=7 granted=10",
            "ok revoked=",
            "ok id=1 ttl=7 granted=10",
            "ok revoked=",
            "ok id=1 ttl=7 granted=10",
        ],
    );
}

#[test]
fn renew_of_an_expired_lease_blocks_until_the_revoke_lands() {
    // Expiry at 2.1 s falls between scans: from 2.1 s to the 2.5 s scan it is expired, unrevoked.
    check_trace(
        "advance 100ms\ngrant 1 2\nadvance 2s\nttl 1\nrenew 1\nleases\nadvance 400ms\nrenew 1\nttl 1",
        &[
            "ok revoked=",
            "ok id=1 ttl=2",
            "ok revoked=",
            "ok id=1 ttl=0 granted=2",
            "blocked",
            "ok ids=1",
            "ok revoked=1",
            "err LeaseNotFound",
            "ok id=1 ttl=-1",
        ],
    );
}

#[test]
fn ttl_of_an_expired_unrevoked_lease_goes_negative() {
    check_trace(
        "grant 1 2\nlose-revokes 1\nadvance 3500ms\nttl 1\nrenew 1",
        &["ok id=1 ttl=2", "ok", "ok revoked=", "ok id=1 ttl=-1 granted=2", "blocked"],
    );
}

#[test]
fn revoke_deletes_all_keys_at_one_revision() {
    check_trace(
        "grant 1 10\nput a 1 1\nput b 2 1\nput c 3\nget a\nrevoke 1\nget a\nget b\nget c\nput d 4\ndelete d\ndelete d",
        &[
            "ok id=1 ttl=10",
            "ok rev=2",
            "ok rev=3",
            "ok rev=4",
            "ok value=1 lease=1 mod_rev=2",
            "ok",
            "ok none",
            "ok none",
            "ok value=3 lease=0 mod_rev=4",
            "ok rev=6",
            "ok rev=7 deleted=1",
            "ok rev=7 deleted=0",
        ],
    );
    check_trace(
        "grant 1 10\nput b v 1\nput a v 1\nrevoke-begin 1\nrevoke-step 1\nrevoke-step 1\nleases",
        &[
            "ok id=1 ttl=10",
            "ok rev=2",
            "ok rev=3",
            "ok",
            "ok step=delete-keys keys=a,b rev=4",
            "ok step=remove-lease done",
            "ok ids=",
        ],
    );
}

#[test]
fn revoke_of_a_lease_without_keys_makes_no_revision_and_wakes_blocked_renewers_with_not_found() {
    check_trace(
        "put a v\ngrant 1 5\nrevoke 1\nrevoke 1\nput b v",
        &["ok rev=2", "ok id=1 ttl=5", "ok", "err LeaseNotFound", "ok rev=3"],
    );
    check_trace(
        "advance 100ms\ngrant 1 2\nadvance 2s\nrenew 1\nrevoke 1\nrenew 1",
        &["ok revoked=", "ok id=1 ttl=2", "ok revoked=", "blocked", "ok", "err LeaseNotFound"],
    );
}

#[test]
fn a_put_moves_a_key_between_leases() {
    check_trace(
        "grant 1 10\ngrant 2 10\nput k v 1\nttl 1 keys\nput k w 2\nttl 1 keys\nttl 2 keys\nrevoke 1\nget k\nput k x\nttl 2 keys\nrevoke 2\nget k",
        &[
            "ok id=1 ttl=10",
            "ok id=2 ttl=10",
            "ok rev=2",
            "ok id=1 ttl=10 granted=10 keys=k",
            "ok rev=3",
            "ok id=1 ttl=10 granted=10 keys=",
            "ok id=2 ttl=10 granted=10 keys=k",
            "ok",
            "ok value=w lease=2 mod_rev=3",
            "ok rev=4",
            "ok id=2 ttl=10 granted=10 keys=",
            "ok",
            "ok value=x lease=0 mod_rev=4",
        ],
    );
}

#[test]
fn a_put_naming_an_unknown_lease_writes_nothing() {
    check_trace(
        "put k v 9\nget k\nput k v\nput k w -3\nget k",
        &["err LeaseNotFound", "ok none", "ok rev=2", "err LeaseNotFound", "ok value=v lease=0 mod_rev=2"],
    );
}

#[test]
fn a_demoted_lessor_answers_leader_changed_and_not_primary_and_revokes_nothing() {
    // After the promote the TTL shows the extension on top of the full TTL (SPEC §2).
    check_trace(
        "grant 1 10\ndemote\nttl 1\nttl 2\nrenew 1\nleases\ngrant 2 5\nttl 2\nadvance 20s\nleases\npromote 1s\nttl 1\nttl 2",
        &[
            "ok id=1 ttl=10",
            "ok",
            "err LeaderChanged",
            "ok id=2 ttl=-1",
            "err NotPrimary",
            "ok ids=1",
            "ok id=2 ttl=5",
            "err LeaderChanged",
            "ok revoked=",
            "ok ids=1,2",
            "ok",
            "ok id=1 ttl=11 granted=10",
            "ok id=2 ttl=6 granted=5",
        ],
    );
}

#[test]
fn promote_without_checkpoints_resets_every_lease_to_its_full_ttl() {
    check_trace(
        "grant 1 10\nadvance 6s\nttl 1\ndemote\npromote 1s\nttl 1\nadvance 10s\nadvance 1s",
        &[
            "ok id=1 ttl=10",
            "ok revoked=",
            "ok id=1 ttl=4 granted=10",
            "ok",
            "ok",
            "ok id=1 ttl=11 granted=10",
            "ok revoked=",
            "ok revoked=1",
        ],
    );
}

#[test]
fn promote_with_checkpoints_keeps_the_remaining_ttl() {
    // Checkpoints at 2, 4, 6 s leave remaining 8, 6, 4; the new leader gives 6 + 1 + 4 = 11 s.
    check_trace(
        "config checkpoint=on checkpoint_interval=2s\ngrant 1 10\nadvance 6s\nttl 1\ndemote\npromote 1s\nttl 1\nadvance 4500ms\nadvance 500ms",
        &[
            "ok id=1 ttl=10",
            "ok revoked=",
            "ok id=1 ttl=4 granted=10",
            "ok",
            "ok",
            "ok id=1 ttl=5 granted=10",
            "ok revoked=",
            "ok revoked=1",
        ],
    );
}

#[test]
fn a_checkpoint_with_the_whole_ttl_left_is_skipped() {
    // Renewed at 1.5 s, the lease has 9.5 s (ceil 10 = its TTL) at the 2 s checkpoint: skipped, so a
    // later promote gives the full TTL; without the renew it would have been checkpointed at 8.
    let config = "config checkpoint=on checkpoint_interval=2s\ngrant 1 10\nadvance 1500ms\n";
    check_trace(
        &format!("{config}renew 1\nadvance 500ms\ndemote\npromote 0ms\nttl 1"),
        &["ok id=1 ttl=10", "ok revoked=", "ok ttl=10", "ok revoked=", "ok", "ok", "ok id=1 ttl=10 granted=10"],
    );
    check_trace(
        &format!("{config}advance 500ms\ndemote\npromote 0ms\nttl 1"),
        &["ok id=1 ttl=10", "ok revoked=", "ok revoked=", "ok", "ok", "ok id=1 ttl=8 granted=10"],
    );
}

#[test]
fn renew_with_checkpointing_clears_the_remaining_ttl_first() {
    let config = "config checkpoint=on checkpoint_interval=2s\ngrant 1 10\nadvance 2s\n";
    check_trace(
        &format!("{config}renew 1\nadvance 3s\nttl 1"),
        &["ok id=1 ttl=10", "ok revoked=", "ok ttl=10", "ok revoked=", "ok id=1 ttl=7 granted=10"],
    );
    // Stepped: the round trip is its own step, and the final step re-checks existence.
    check_trace(
        &format!("{config}renew-begin 1\nrenew-checkpoint 1\nrenew-end 1\nttl 1"),
        &["ok id=1 ttl=10", "ok revoked=", "ok checkpoint=needed", "ok", "ok ttl=10", "ok id=1 ttl=10 granted=10"],
    );
    check_trace(
        &format!("{config}renew-begin 1\nrenew-checkpoint 1\nrevoke 1\nrenew-end 1"),
        &["ok id=1 ttl=10", "ok revoked=", "ok checkpoint=needed", "ok", "ok", "err LeaseNotFound"],
    );
}

#[test]
fn promote_spreads_a_pile_up_over_seconds() {
    // revoke_rate 8: at most 6 expiries per second; the 7th..10th of a pile-up at 10 s move to
    // 10 s + 7/6, 8/6, 9/6, 10/6 s. Scans take at most 4 each (the rate's half).
    let mut text = String::from("config revoke_rate=8\n");
    for id in 1..=10 {
        text += &format!("grant {id} 10\n");
    }
    text +=
        "promote 0ms\nttl 6\nttl 7\nttl 10\nadvance 10s\nadvance 500ms\nadvance 500ms\nadvance 500ms\nadvance 500ms";
    let mut expected: Vec<String> = (1..=10).map(|id| format!("ok id={id} ttl=10")).collect();
    expected.extend(
        [
            "ok",
            "ok id=6 ttl=10 granted=10",
            "ok id=7 ttl=11 granted=10",
            "ok id=10 ttl=11 granted=10",
            "ok revoked=1,2,3,4",
            "ok revoked=5,6",
            "ok revoked=",
            "ok revoked=7,8,9",
            "ok revoked=10",
        ]
        .map(String::from),
    );
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    check_trace(&text, &expected);
}

#[test]
fn a_scan_revokes_at_most_half_the_revoke_rate_in_deadline_order() {
    check_trace(
        "config revoke_rate=4\ngrant 5 2\ngrant 4 2\ngrant 3 2\ngrant 2 2\ngrant 1 2\nadvance 2s\nadvance 500ms\nadvance 500ms",
        &[
            "ok id=5 ttl=2",
            "ok id=4 ttl=2",
            "ok id=3 ttl=2",
            "ok id=2 ttl=2",
            "ok id=1 ttl=2",
            "ok revoked=1,2",
            "ok revoked=3,4",
            "ok revoked=5",
        ],
    );
    check_trace("grant 3 2\ngrant 1 3\nadvance 3s", &["ok id=3 ttl=2", "ok id=1 ttl=3", "ok revoked=3,1"]);
}

#[test]
fn a_lost_revoke_is_retried_after_the_retry_interval_not_before() {
    check_trace(
        "config retry=3s\ngrant 1 2\nlose-revokes 1\nadvance 2s\nrenew 1\nadvance 2500ms\nadvance 500ms",
        &["ok id=1 ttl=2", "ok", "ok revoked=", "blocked", "ok revoked=", "ok revoked=1"],
    );
    check_trace(
        "config retry=3s\ngrant 1 2\nlose-revokes 2\nadvance 5s\nadvance 2500ms\nadvance 500ms",
        &["ok id=1 ttl=2", "ok", "ok revoked=", "ok revoked=", "ok revoked=1"],
    );
}

#[test]
fn restart_keeps_remaining_ttls_only_when_checkpoints_are_persisted() {
    // Remaining 4 s checkpointed at 6 s; the restarted leader adds the 1 s election timeout.
    check_trace(
        "config checkpoint=on persist=on checkpoint_interval=2s\ngrant 1 10\nadvance 6s\nrestart\nttl 1\nadvance 4500ms\nadvance 500ms",
        &["ok id=1 ttl=10", "ok revoked=", "ok", "ok id=1 ttl=5 granted=10", "ok revoked=", "ok revoked=1"],
    );
    // Not persisted: the restart loses it and the lease is back to its full TTL (etcd 17132)...
    check_trace(
        "config checkpoint=on persist=off checkpoint_interval=2s\ngrant 1 10\nadvance 6s\nrestart\nttl 1",
        &["ok id=1 ttl=10", "ok revoked=", "ok", "ok id=1 ttl=11 granted=10"],
    );
    // ...while a leader change without a restart keeps it.
    check_trace(
        "config checkpoint=on persist=off checkpoint_interval=2s\ngrant 1 10\nadvance 6s\ndemote\npromote 1s\nttl 1",
        &["ok id=1 ttl=10", "ok revoked=", "ok", "ok", "ok id=1 ttl=5 granted=10"],
    );
}

#[test]
fn negative_ids_survive_a_restart_with_their_keys() {
    check_trace(
        "grant -5 10\ngrant -9223372036854775808 10\nput k v -5\nrestart\nleases\nttl -5 keys\nget k\nrevoke -5\nget k\nleases",
        &[
            "ok id=-5 ttl=10",
            "ok id=-9223372036854775808 ttl=10",
            "ok rev=2",
            "ok",
            "ok ids=-9223372036854775808,-5",
            "ok id=-5 ttl=11 granted=10 keys=k",
            "ok value=v lease=-5 mod_rev=2",
            "ok",
            "ok none",
            "ok ids=-9223372036854775808",
        ],
    );
}

#[test]
fn a_checkpoint_of_an_unknown_lease_is_ok() {
    check_trace("checkpoint 42 5\nleases\nttl 42", &["ok", "ok ids=", "ok id=42 ttl=-1"]);
}

#[test]
fn a_renew_between_a_revokes_key_deletion_and_lease_removal_succeeds() {
    // etcd issue 14758: a documented open window, allowed by the oracle.
    check_trace(
        "grant 1 10\nput a v 1\nrevoke-begin 1\nrevoke-step 1\nrenew 1\nttl 1 keys\nget a\nrevoke-step 1\nrenew 1",
        &[
            "ok id=1 ttl=10",
            "ok rev=2",
            "ok",
            "ok step=delete-keys keys=a rev=3",
            "ok ttl=10",
            "ok id=1 ttl=10 granted=10 keys=",
            "ok none",
            "ok step=remove-lease done",
            "err LeaseNotFound",
        ],
    );
}

#[test]
fn a_lease_that_expires_during_a_renews_checkpoint_round_trip_is_still_refreshed() {
    // etcd checks expiry in Renew's first step only; the lease expires at 3 s while the checkpoint
    // {1, 0} is being replicated (its revoke lost), and the last step refreshes it: an open window
    // like 14758, not a resurrection.
    check_trace(
        "config checkpoint=on checkpoint_interval=2s retry=3s\ngrant 1 3\nadvance 2s\nrenew-begin 1\nlose-revokes 1\nadvance 1s\nrenew-checkpoint 1\nrenew-end 1\nttl 1",
        &[
            "ok id=1 ttl=3",
            "ok revoked=",
            "ok checkpoint=needed",
            "ok",
            "ok revoked=",
            "ok",
            "ok ttl=3",
            "ok id=1 ttl=3 granted=3",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// What a trace cannot reach: checked on the lessor directly.

#[test]
fn grant_checks_id_zero_first() {
    let mut lessor: Lessor = Lessor::new(LessorConfig::server_defaults());
    lessor.promote(Instant::EPOCH, Duration::ZERO);
    assert_eq!(lessor.grant(Instant::EPOCH, 0, MAX_LEASE_TTL_S + 1).err(), Some(LeaseError::LeaseNotFound));
    assert_eq!(lessor.grant(Instant::EPOCH, 0, 10).err(), Some(LeaseError::LeaseNotFound));
    assert_eq!(lessor.lease_count(), 0);
}

#[test]
fn recover_clamps_ttls_keeps_remaining_ttls_and_waits_for_a_promote() {
    let mut records = LeaseRecords::default();
    records.put(LeaseRecord { id: -3, ttl_s: 1, remaining_ttl_s: 0 });
    records.put(LeaseRecord { id: 7, ttl_s: 30, remaining_ttl_s: 12 });
    let mut lessor: Lessor = Lessor::recover(LessorConfig::server_defaults(), records);
    assert!(!lessor.is_primary());
    let negative = lessor.lookup(-3).expect("negative ID recovered");
    assert_eq!((negative.ttl_s, negative.expiry), (2, Instant::FOREVER));
    assert_eq!(lessor.lookup(7).map(|l| l.remaining_ttl_s), Some(12));
    assert_eq!(lessor.time_to_live(Instant::EPOCH, 7), Err(LeaseError::LeaderChanged));
    lessor.promote(Instant::from_ms(1000), Duration::from_secs(1));
    assert_eq!(lessor.lookup(7).map(|l| l.expiry), Some(Instant::from_ms(14_000)));
    assert_eq!(lessor.lookup(-3).map(|l| l.expiry), Some(Instant::from_ms(4_000)));
}

#[test]
fn spreading_keeps_every_second_under_three_quarters_of_the_revoke_rate() {
    // 200 leases piled up on two deadlines, revoke rate 40: at most 30 expire in any one second.
    let config = LessorConfig { revoke_rate_per_s: 40, ..LessorConfig::server_defaults() };
    let mut replayer =
        Replayer::new(leasesim::trace::TraceConfig { lessor: config, election_timeout: Duration::from_secs(1) });
    for id in 1..=200 {
        let ttl = if id % 3 == 0 { 20 } else { 10 };
        let (reply, verdict) = replayer.execute(&leasesim::trace::Command::Grant { id, ttl_s: ttl }).unwrap();
        assert!(reply.starts_with("ok") && verdict.is_ok(), "{reply}");
    }
    let (_, verdict) = replayer.execute(&leasesim::trace::Command::Promote { extend: Duration::ZERO }).unwrap();
    assert_eq!(verdict, Ok(()));
    let mut expiries: Vec<u64> = replayer.lessor().leases_by_id().map(|l| l.expiry.as_ms()).collect();
    expiries.sort_unstable();
    assert!(expiries.iter().all(|&e| e >= 10_000), "spreading only ever delays");
    for (i, &start) in expiries.iter().enumerate() {
        let in_second = expiries[i..].iter().take_while(|&&e| e < start + 1000).count();
        assert!(in_second <= 30, "{in_second} leases expire in [{start}ms, {}ms)", start + 1000);
    }
    assert!(expiries.last() > Some(&21_000), "the second pile-up was spread too: {:?}", expiries.last());
}

/// A promote of more leases than the lessor's bulk path walks in one thread (from 65,536 on, the
/// walk, the write-back and the expiry index's ID table run in two threads) gives every lease the
/// reference model's expiry, pile-ups spread, and leaves the expiry index holding exactly those
/// deadlines; with checkpointing off and on, after checkpoints that shorten some leases. (The
/// lessor is driven directly: the replayer's oracle checks every lease after every command.)
#[test]
fn promote_of_many_leases_agrees_with_the_reference() {
    use leasesim::expiry::ExpiryQueue;
    use leasesim::trace::Command;
    const LEASES: i64 = 70_000;
    for checkpointing in [false, true] {
        let config = LessorConfig { checkpointing, ..LessorConfig::server_defaults() };
        let mut reference = Reference::new(leasesim::trace::TraceConfig {
            lessor: config.clone(),
            election_timeout: Duration::from_secs(1),
        });
        let mut lessor = Lessor::<leasesim::expiry::BucketQueue>::new(config);
        lessor.promote(Instant::EPOCH, Duration::ZERO);
        let mut x: u64 = 0x5eed_0007;
        for id in 1..=LEASES {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // TTLs from 2 s to about an hour, most of them short: pile-ups in the first seconds.
            let ttl_s = 2 + (x % 3600) as i64 * (x >> 62) as i64 / 3;
            assert!(reference.execute(&Command::Grant { id, ttl_s }).is_ok_and(|r| r.starts_with("ok")));
            lessor.grant(Instant::EPOCH, id, ttl_s).expect("a fresh ID");
            if id % 7 == 0 {
                let remaining_ttl_s = 1 + ttl_s / 2;
                assert_eq!(reference.execute(&Command::Checkpoint { id, remaining_ttl_s }), Ok("ok".to_owned()));
                lessor.checkpoint(Instant::EPOCH, id, remaining_ttl_s);
            }
        }
        // Demoted at 1.3 s (before the shortest TTL runs out), promoted at 2 s.
        for (command, reply) in [
            (Command::Advance { by: Duration::from_ms(1_300) }, "ok revoked="),
            (Command::Demote, "ok"),
            (Command::Advance { by: Duration::from_ms(700) }, "ok revoked="),
            (Command::Promote { extend: Duration::from_secs(1) }, "ok"),
        ] {
            assert_eq!(reference.execute(&command), Ok(reply.to_owned()), "{command:?}");
        }
        lessor.demote();
        lessor.promote(Instant::from_ms(2_000), Duration::from_secs(1));
        lessor.assert_consistent();
        assert_eq!((lessor.lease_count(), lessor.expiry_queue().len()), (LEASES as usize, LEASES as usize));
        let mut delayed = 0;
        for lease in lessor.leases_by_id() {
            let expected = reference.lease(lease.id).and_then(|l| l.expiry);
            assert_eq!(Some(lease.expiry), expected, "lease {} (checkpointing {checkpointing})", lease.id);
            assert_eq!(lessor.expiry_queue().deadline_of(lease.id), Some(lease.expiry), "lease {}", lease.id);
            delayed += usize::from(lease.expiry.as_ms() % 1000 != 0);
        }
        assert!(delayed > 1_000, "pile-ups were spread: {delayed} leases delayed by a part of a second");
    }
}
