package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/moq-cluster/moq-relay/moqt"
	"github.com/moq-cluster/moq-relay/moqt/wire"
	"github.com/moq-cluster/moq-relay/transport"
)

// Exit statuses, documented in exitCodesHelp and README.md.
const (
	exitOK         = 0
	exitError      = 1
	exitRefused    = 2
	exitNotFound   = 3
	exitConnection = 4
	exitSourceLost = 5
)

// failure is an error with the exit status it maps to, whether trying again
// may help, and a hint at the fix.
type failure struct {
	exit  int
	retry bool
	err   error
	hint  string
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// connectFailure classifies an error from dialing and the handshake.
func connectFailure(rawURL string, err error) error {
	if isCertificateError(err) {
		return &failure{exit: exitConnection, err: fmt.Errorf("connect %s: %w", redact(rawURL), err),
			hint: "the relay's certificate is not trusted (self-signed?): in development use an http:// URL " +
				"(moq fetches the hash the relay serves at /certificate.sha256 and pins it), or pin it with " +
				"--fingerprint HEX (curl http://HOST:PORT/certificate.sha256)"}
	}
	if f := sessionFailure(err); f != nil {
		f.err = fmt.Errorf("connect %s: %w", redact(rawURL), f.err)
		return f
	}
	return &failure{exit: exitConnection, retry: true, err: fmt.Errorf("connect %s: %w", redact(rawURL), err)}
}

// sessionFailure classifies why a session ended (or was refused), or returns
// nil when err is not about the session. The error names the code and the
// relay's reason.
func sessionFailure(err error) *failure {
	var se *transport.SessionError
	var we *wire.Error
	var code wire.Code
	var reason string
	switch {
	case errors.As(err, &se):
		code, reason = wire.Code(se.Code), se.Reason
	case errors.As(err, &we) && refusal(we.Code):
		// moq-transport sessions report the relay's close in moqt's codes
		// (the drafts number them differently on the wire).
		code, reason = we.Code, we.Reason
	default:
		var lost *moqt.SessionLostError
		if errors.As(err, &lost) {
			return &failure{exit: exitConnection, retry: true, err: fmt.Errorf("connection lost: %w", lost.Err)}
		}
		return nil
	}
	desc := code.String()
	if reason != "" && reason != desc {
		desc += ": " + strings.TrimPrefix(reason, desc+": ")
	}
	switch code {
	case wire.CodeUnauthorized:
		return &failure{exit: exitRefused, err: fmt.Errorf("refused by the relay (code %d): %s", code, desc),
			hint: "the relay requires a token covering this URL's path: add ?jwt=TOKEN to the URL " +
				"(moq-relay token sign --root PATH --get \"\" for sub, --put \"\" for pub); " +
				"a token is refused when expired, signed by another key, or when the URL path is outside its root"}
	case wire.CodeLimit:
		return &failure{exit: exitRefused, err: fmt.Errorf("refused by the relay (code %d): %s", code, desc),
			hint: "the relay is at a configured limit ([limits] max_sessions / max_sessions_per_ip): try later or another node"}
	case wire.CodeVersion:
		return &failure{exit: exitRefused, err: fmt.Errorf("refused by the relay (code %d): %s", code, desc)}
	case wire.CodeGoingAway:
		return &failure{exit: exitConnection, retry: true, err: fmt.Errorf("the relay is going away (code %d): %s", code, desc)}
	}
	if se != nil && !se.Remote {
		return &failure{exit: exitConnection, retry: true, err: fmt.Errorf("connection lost: %w", se)}
	}
	return &failure{exit: exitConnection, retry: true, err: fmt.Errorf("connection closed by the relay (code %d): %s", code, desc)}
}

// refusal reports the codes sessionFailure tells apart.
func refusal(c wire.Code) bool {
	return c == wire.CodeUnauthorized || c == wire.CodeLimit || c == wire.CodeVersion || c == wire.CodeGoingAway
}

// isCertificateError reports a TLS verification failure. quic-go reports
// the handshake failure as a CRYPTO_ERROR carrying only the message, so the
// text is checked too.
func isCertificateError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "failed to verify certificate") || strings.Contains(s, "x509: ") ||
		strings.Contains(s, "does not match the pinned fingerprint")
}

// redact hides a token in the URL's query so errors can be pasted.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.RawQuery == "" {
		return rawURL
	}
	q := u.Query()
	if q.Has("jwt") {
		q.Set("jwt", "…")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// naming prefixes a session-level failure (refused, connection) with what
// was being done; failures about the track name it already.
func naming(err error, doing string) error {
	var fl *failure
	if errors.As(err, &fl) && (fl.exit == exitRefused || fl.exit == exitConnection) && !strings.Contains(fl.err.Error(), "broadcast ") {
		fl.err = fmt.Errorf("%s: %w", doing, fl.err)
	}
	return err
}

// settle gives a session that is closing a moment to report why. Over
// WebTransport a closed session first resets its streams with a generic
// "session gone" code, so a stream error can arrive before the close code
// that explains it.
func settle(sess moqt.Session) {
	t := time.NewTimer(300 * time.Millisecond)
	defer t.Stop()
	select {
	case <-sess.Done():
	case <-t.C:
	}
}
