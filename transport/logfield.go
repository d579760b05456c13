package transport

import (
	"fmt"
	"unicode/utf8"

	"go.uber.org/zap"
)

// MaxLogString is the most bytes of a peer-controlled string that one log
// field carries.
const MaxLogString = 256

// LogString is zap.String for a string the peer chooses (a path, a track
// name, a close reason, a node id): a longer one is cut to MaxLogString
// bytes, on a character boundary, and says how much was left out, so no
// client can make a log line long. Escaping is left to zap: its console and
// JSON encoders both write field values as JSON strings, control characters
// and invalid UTF-8 escaped, so a value never breaks a line.
func LogString(key, s string) zap.Field {
	if len(s) <= MaxLogString {
		return zap.String(key, s)
	}
	cut := MaxLogString
	for cut > MaxLogString-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return zap.String(key, fmt.Sprintf("%s…(+%d bytes)", s[:cut], len(s)-cut))
}

// LogError is zap.Error for an error whose text may quote what the peer
// sent; it is cut like LogString.
func LogError(err error) zap.Field { return LogErrorNamed("error", err) }

// LogErrorNamed is LogError under another key (zap.NamedError's cut twin).
func LogErrorNamed(key string, err error) zap.Field {
	if err == nil {
		return zap.Skip()
	}
	return LogString(key, err.Error())
}
