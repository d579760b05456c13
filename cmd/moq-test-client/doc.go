// Command moq-test-client is a MoQT interop test client: it implements the
// moq-interop-runner test-client interface (docs/TEST-CLIENT-INTERFACE.md and
// docs/tests/TEST-CASES.md in englishm/moq-interop-runner) and speaks IETF
// moq-transport drafts 14–20 directly on the codec (moqt/ietf/message), so it
// sees every message on the wire and checks the relay's engine as a second,
// independent implementation.
//
// Usage:
//
//	moq-test-client [-r URL] [-t NAME] [-l] [-v] [--tls-disable-verify] [--draft N|all]
//
//	-r, --relay URL           https://host:port/path (WebTransport) or
//	                          moqt://host:port/path (raw QUIC: the authority and
//	                          path travel in the SETUP options)
//	                          default https://localhost:4443
//	-t, --test NAME           one case (default: all)
//	-l, --list                print the case names, one a line
//	-v, --verbose             trace every control message on stderr
//	    --tls-disable-verify  accept any certificate (development relays)
//	    --draft N             the draft to speak: 14..20 (also draft-18,
//	                          moqt-18, moq-00), default 18 as the runner
//	                          targets; "all" runs every case on every draft,
//	                          naming points "setup-only (draft-17)"
//
// The environment fills in what the command line leaves unset: RELAY_URL,
// TESTCASE, TLS_DISABLE_VERIFY=1, VERBOSE=1, MOQT_DRAFT. A relay that wants
// a token takes it in the URL query (https://relay:4443/room?jwt=TOKEN; over
// raw QUIC the query travels in the PATH setup option); the TAP header shows
// the URL with query values redacted.
//
// Output is TAP version 14 on stdout: a header (client version, relay,
// draft), the plan, and per case "ok N - name" or "not ok N - name" with a
// YAML block: duration_ms; connection_id, or publisher_connection_id and
// subscriber_connection_id for the two-connection cases (the QUIC original
// destination connection ID, which qlog names a connection by); and on
// failure expected, received and message. Exit status: 0 all passed, 1 one
// or more failed (or a bad command line), 127 an unknown case or draft.
//
// The cases, with the interface's timeouts:
//
//	setup-only                 SETUP exchanged, closed cleanly (2 s)
//	announce-only              PUBLISH_NAMESPACE moq-test/interop → REQUEST_OK
//	                           (2 s from sending it)
//	publish-namespace-done     as announce-only, then the namespace withdrawn:
//	                           the request stream reset (17+) or
//	                           PUBLISH_NAMESPACE_DONE (14–16) (2 s)
//	subscribe-error            SUBSCRIBE nonexistent/namespace test-track →
//	                           REQUEST_ERROR (SUBSCRIBE_ERROR in 14) (2 s)
//	announce-subscribe         a publisher announces, a subscriber's SUBSCRIBE
//	                           is forwarded to it and answered SUBSCRIBE_OK (3 s)
//	subscribe-before-announce  the subscriber subscribes, the publisher
//	                           announces 500 ms later; SUBSCRIBE_OK or
//	                           REQUEST_ERROR both pass (3.5 s)
//
// The publisher role accepts a forwarded SUBSCRIBE for test-track in a
// namespace it announced (SUBSCRIBE_OK, no objects) and refuses anything
// else (DOES_NOT_EXIST, or NOT_SUPPORTED for other requests). Against a
// local relay:
//
//	moq-relay serve --bind 127.0.0.1:4443 --tls-generate localhost,127.0.0.1 &
//	moq-test-client -r moqt://127.0.0.1:4443 --tls-disable-verify --draft all
package main
